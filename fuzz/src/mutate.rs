//! Mutations of an input file: a short list of edits that proptest draws and, when a case fails,
//! shrinks to the fewest and smallest that still fail. Positions are taken modulo the file's
//! length, so any list applies to any file and a shrunk case stays meaningful.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// Text that OGB readers treat specially, or that breaks a number's type: what random bytes
/// rarely produce.
pub const TOKENS: &[&str] = &[
    ",",
    "\n",
    "\r\n",
    "nan",
    "-inf",
    "-",
    "-1",
    "0",
    "1.0",
    "2.5",
    "1e400",
    "01e-400",
    "4294967295",
    "4294967296",
    "16777217",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "",
    " ",
    "\"",
    "\0",
    "null",
    "[]",
    "[0]",
    "{}",
    "\"../x\"",
    "\"u64\"",
    "\"i8\"",
    // A huge class count, and a shape that drops a dimension (meta.json).
    "50000000",
    "[1]",
];

/// Little-endian words worth writing into binary arrays (ids, offsets, counts).
/// The last two are an f32 NaN and infinity (features).
pub const WORDS: &[u64] =
    &[0, 1, 2, 7, 40, 0x7f, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, u64::MAX, 0x7fc0_0000, 0x7f80_0000];

/// One edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Flip bit `bit` of the byte at `at`.
    Flip {
        /// Position (modulo the length).
        at: u32,
        /// Bit 0..8.
        bit: u8,
    },
    /// Overwrite the byte at `at`.
    Set {
        /// Position.
        at: u32,
        /// New byte.
        byte: u8,
    },
    /// Overwrite `width` bytes (4 or 8) at `at` with word `WORDS[word]`, little-endian.
    Word {
        /// Position.
        at: u32,
        /// Index into [`WORDS`].
        word: u8,
        /// 4 or 8 bytes.
        width: u8,
    },
    /// Insert `TOKENS[token]` at `at`.
    Insert {
        /// Position.
        at: u32,
        /// Index into [`TOKENS`].
        token: u8,
    },
    /// Remove `len` bytes from `at`.
    Delete {
        /// Position.
        at: u32,
        /// Bytes.
        len: u16,
    },
    /// Repeat the `len` bytes at `at` `times` more times (long lines, many rows).
    Repeat {
        /// Position.
        at: u32,
        /// Bytes.
        len: u16,
        /// Copies.
        times: u16,
    },
    /// Cut the file at `at`.
    Truncate {
        /// Position.
        at: u32,
    },
}

fn pos(at: u32, len: usize) -> usize {
    if len == 0 { 0 } else { at as usize % (len + 1) }
}

impl Op {
    /// Applies the edit to `data`.
    pub fn apply(&self, data: &mut Vec<u8>) {
        let n = data.len();
        match *self {
            Op::Flip { at, bit } if n > 0 => data[at as usize % n] ^= 1 << (bit % 8),
            Op::Set { at, byte } if n > 0 => data[at as usize % n] = byte,
            Op::Word { at, word, width } => {
                let bytes = WORDS[word as usize % WORDS.len()].to_le_bytes();
                let w = if width % 2 == 0 { 4 } else { 8 };
                let at = pos(at, n).min(n.saturating_sub(w));
                for (i, &b) in bytes[..w].iter().enumerate() {
                    if let Some(x) = data.get_mut(at + i) {
                        *x = b;
                    }
                }
            }
            Op::Insert { at, token } => {
                let at = pos(at, n);
                let t = TOKENS[token as usize % TOKENS.len()].as_bytes();
                data.splice(at..at, t.iter().copied());
            }
            Op::Delete { at, len } => {
                let at = pos(at, n);
                data.drain(at..(at + len as usize).min(n));
            }
            Op::Repeat { at, len, times } => {
                let at = pos(at, n);
                let piece = data[at..(at + len as usize).min(n)].to_vec();
                // Bounded: at most 4 MiB more per edit, so a case never needs gigabytes.
                let times = (times as usize).min((4 << 20) / piece.len().max(1));
                let tail = data.split_off(at);
                for _ in 0..times {
                    data.extend_from_slice(&piece);
                }
                data.extend_from_slice(&tail);
            }
            Op::Truncate { at } => data.truncate(pos(at, n)),
            Op::Flip { .. } | Op::Set { .. } => {}
        }
    }
}

/// Applies `ops` in order.
pub fn apply_all(ops: &[Op], data: &mut Vec<u8>) {
    for op in ops {
        op.apply(data);
    }
}

/// One edit, drawn with the interesting ones (tokens, words) as often as raw bytes.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u32>(), 0u8..8).prop_map(|(at, bit)| Op::Flip { at, bit }),
        (any::<u32>(), any::<u8>()).prop_map(|(at, byte)| Op::Set { at, byte }),
        (any::<u32>(), 0..WORDS.len() as u8, 0u8..2).prop_map(|(at, word, width)| Op::Word { at, word, width }),
        (any::<u32>(), 0..TOKENS.len() as u8).prop_map(|(at, token)| Op::Insert { at, token }),
        (any::<u32>(), 0u16..64).prop_map(|(at, len)| Op::Delete { at, len }),
        (any::<u32>(), 1u16..64, 1u16..2048).prop_map(|(at, len, times)| Op::Repeat { at, len, times }),
        any::<u32>().prop_map(|at| Op::Truncate { at }),
    ]
}

/// One to six edits.
pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_inside_any_file_even_an_empty_one() {
        let all = [
            Op::Flip { at: 9, bit: 3 },
            Op::Set { at: u32::MAX, byte: 0 },
            Op::Word { at: 2, word: 11, width: 1 },
            Op::Insert { at: 100, token: 3 },
            Op::Delete { at: 1, len: 1000 },
            Op::Repeat { at: 0, len: 2, times: 3 },
            Op::Truncate { at: 5 },
        ];
        for op in &all {
            op.apply(&mut Vec::new());
        }
        let mut d = b"abcdef".to_vec();
        Op::Repeat { at: 1, len: 2, times: 2 }.apply(&mut d);
        assert_eq!(d, b"abcbcbcdef");
        Op::Insert { at: 3, token: 3 }.apply(&mut d);
        assert_eq!(d, b"abcnanbcbcdef");
        Op::Delete { at: 0, len: 3 }.apply(&mut d);
        assert_eq!(d, b"nanbcbcdef");
        Op::Word { at: 0, word: 9, width: 0 }.apply(&mut d);
        assert_eq!(&d[..4], &[0xff; 4]);
        Op::Truncate { at: 14 }.apply(&mut d);
        assert_eq!(d.len(), 3, "14 mod 11");
    }
}
