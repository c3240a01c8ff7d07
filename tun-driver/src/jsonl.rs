//! The little JSON the observability files need: quoted strings.

/// `s` as a JSON string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        assert_eq!(super::quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(super::quote("x\ny\u{1}"), r#""x\ny\u0001""#);
        assert_eq!(super::quote("10.0.0.1:80"), r#""10.0.0.1:80""#);
    }
}
