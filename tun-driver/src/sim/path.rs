//! Paths between the two hosts: an address pair and one [`Link`] per direction.

use core::net::IpAddr;

use crate::link::{Link, LinkConfig, LinkStats};

use super::rng::SimRng;

/// One of the two hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Host A.
    A,
    /// Host B.
    B,
}

/// One direction of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From host A to host B.
    AToB,
    /// From host B to host A.
    BToA,
}

impl Direction {
    /// Both directions, A→B first.
    pub const BOTH: [Direction; 2] = [Direction::AToB, Direction::BToA];

    /// The direction of packets sent by `side`.
    pub fn from_sender(side: Side) -> Direction {
        match side {
            Side::A => Direction::AToB,
            Side::B => Direction::BToA,
        }
    }

    fn index(self) -> usize {
        match self {
            Direction::AToB => 0,
            Direction::BToA => 1,
        }
    }
}

/// How to build a path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathConfig {
    /// Host A's address on this path.
    pub a_addr: IpAddr,
    /// Host B's address on this path.
    pub b_addr: IpAddr,
    /// The link carrying A's packets to B.
    pub a_to_b: LinkConfig,
    /// The link carrying B's packets to A.
    pub b_to_a: LinkConfig,
}

impl PathConfig {
    /// A path whose two directions have the same configuration.
    pub fn symmetric(a_addr: IpAddr, b_addr: IpAddr, link: LinkConfig) -> PathConfig {
        PathConfig { a_addr, b_addr, a_to_b: link.clone(), b_to_a: link }
    }
}

/// A path of a running simulation.
#[derive(Debug, Clone)]
pub struct Path {
    a_addr: IpAddr,
    b_addr: IpAddr,
    links: [Link; 2],
    rngs: [SimRng; 2],
}

impl Path {
    /// Path number `index` of a simulation seeded with `seed`; each link gets its own stream.
    pub(crate) fn new(config: PathConfig, seed: u64, index: usize) -> Path {
        let stream = |d: Direction| SimRng::stream(seed, 2 * index as u64 + d.index() as u64);
        Path {
            a_addr: config.a_addr,
            b_addr: config.b_addr,
            links: [Link::new(config.a_to_b), Link::new(config.b_to_a)],
            rngs: [stream(Direction::AToB), stream(Direction::BToA)],
        }
    }

    /// Host A's address on this path.
    pub fn a_addr(&self) -> IpAddr {
        self.a_addr
    }

    /// Host B's address on this path.
    pub fn b_addr(&self) -> IpAddr {
        self.b_addr
    }

    /// The link of one direction.
    pub fn link(&self, direction: Direction) -> &Link {
        &self.links[direction.index()]
    }

    /// The link of one direction, to change its configuration.
    pub fn link_mut(&mut self, direction: Direction) -> &mut Link {
        &mut self.links[direction.index()]
    }

    /// The counters of one direction.
    pub fn stats(&self, direction: Direction) -> &LinkStats {
        self.link(direction).stats()
    }

    /// Whether a packet from `side` with these addresses travels on this path.
    pub(crate) fn carries(&self, side: Side, src: IpAddr, dst: IpAddr) -> bool {
        match side {
            Side::A => (src, dst) == (self.a_addr, self.b_addr),
            Side::B => (src, dst) == (self.b_addr, self.a_addr),
        }
    }

    /// Whether this path starts at `side`'s address `src` (a crossed packet leaves by the path
    /// of its source address).
    pub(crate) fn leaves_from(&self, side: Side, src: IpAddr) -> bool {
        match side {
            Side::A => src == self.a_addr,
            Side::B => src == self.b_addr,
        }
    }

    /// Whether `dst` is the far side's address on this path, seen from `side`.
    pub(crate) fn reaches(&self, side: Side, dst: IpAddr) -> bool {
        match side {
            Side::A => dst == self.b_addr,
            Side::B => dst == self.a_addr,
        }
    }

    /// The link of `direction` and its random stream, borrowed together.
    pub(crate) fn link_and_rng(&mut self, direction: Direction) -> (&mut Link, &mut SimRng) {
        let i = direction.index();
        (&mut self.links[i], &mut self.rngs[i])
    }
}
