//! Streaming reader for OGB's headerless, gzip'd CSV files.
//!
//! One thread decompresses into blocks that end on a line boundary while the caller parses the
//! previous block, so a file uses two cores and only a few blocks of text are ever in memory.
//! Numbers are parsed straight from the bytes (integers by hand, floats with `fast-float2`).

use crate::error::{Error, IoContext, Result};
use crate::progress::Task;
use crossbeam::channel::bounded;
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// Decompressed text handed from the inflating thread to the parser at a time. 1 MiB rather than
/// 4: a block stays nearer the cores' caches between the two threads (products-like prepare,
/// six alternating runs each: 13.3 -> 12.8 s of user CPU, 8.33 -> 8.15 s wall).
const BLOCK: usize = 1 << 20;

/// The longest line a reader accepts by default: OGB's widest rows (papers100M's 128 features)
/// are a few KiB, so 64 MiB only ever stops hostile or broken text, in bounded memory.
pub const DEFAULT_MAX_LINE: usize = 64 << 20;

/// What the inflating thread hands to the parser.
enum Block {
    /// Complete lines.
    Lines(Vec<u8>),
    /// Reading or inflating failed.
    Failed(std::io::Error),
    /// The next line is longer than the limit (it has at least this many bytes).
    LineTooLong(usize),
}

/// Finds `<stem>.csv.gz` or `<stem>.csv` in `dir`.
pub fn find_csv(dir: &Path, stem: &str) -> Option<PathBuf> {
    [format!("{stem}.csv.gz"), format!("{stem}.csv")].into_iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// Reads `path` block by block; `f` parses each block's complete lines with a [`Rows`] cursor.
/// A line longer than `max_line` bytes is an error naming its line, found without holding more
/// than `max_line` bytes of it. Returns the number of decompressed bytes read.
pub fn read_blocks(path: &Path, max_line: usize, f: impl FnMut(&mut Rows<'_>) -> Result<()>) -> Result<u64> {
    read_blocks_with_progress(path, max_line, &Task::hidden(), f)
}

/// [`read_blocks`], advancing `pb` by the bytes of the (compressed) file read.
pub fn read_blocks_with_progress(
    path: &Path,
    max_line: usize,
    pb: &Task,
    mut f: impl FnMut(&mut Rows<'_>) -> Result<()>,
) -> Result<u64> {
    let file = Counting { inner: File::open(path).at(path)?, pb };
    let gz = path.extension().is_some_and(|e| e == "gz");
    let mut source: Box<dyn Read + Send + '_> =
        if gz { Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file))) } else { Box::new(file) };
    let (tx, rx) = bounded::<Block>(2);
    let (back_tx, back_rx) = bounded::<Vec<u8>>(4);
    let mut total = 0u64;
    let mut line = 1u64;
    std::thread::scope(|s| -> Result<()> {
        s.spawn(move || {
            let mut carry: Vec<u8> = Vec::new();
            loop {
                let mut buf = if carry.len() >= BLOCK {
                    // Inside a line longer than a block: grow it in place (copying it into a
                    // fresh block each time would be quadratic in the line's length).
                    std::mem::take(&mut carry)
                } else {
                    let mut buf = back_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(BLOCK + 4096));
                    buf.clear();
                    buf.extend_from_slice(&carry);
                    carry.clear();
                    buf
                };
                let start = buf.len();
                buf.resize(start + BLOCK, 0);
                let mut filled = start;
                let res = loop {
                    match source.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(true),
                        Ok(n) => {
                            filled += n;
                            if filled == buf.len() {
                                break Ok(false);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                match res {
                    Err(e) => {
                        // Hand over the complete lines first, so the error's line number is exact.
                        let cut = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                        buf.truncate(cut);
                        if !buf.is_empty() && tx.send(Block::Lines(buf)).is_err() {
                            return;
                        }
                        let _ = tx.send(Block::Failed(e));
                        return;
                    }
                    Ok(eof) => {
                        if !eof {
                            // Keep the partial last line for the next block.
                            match memchr::memrchr(b'\n', &buf) {
                                Some(i) => {
                                    carry.extend_from_slice(&buf[i + 1..]);
                                    buf.truncate(i + 1);
                                }
                                None if buf.len() > max_line => {
                                    let _ = tx.send(Block::LineTooLong(buf.len()));
                                    return;
                                }
                                None => {
                                    // A line longer than a block: grow the carry and go on.
                                    carry = std::mem::take(&mut buf);
                                    continue;
                                }
                            }
                        }
                        if eof && buf.len() > max_line && !buf.contains(&b'\n') {
                            let _ = tx.send(Block::LineTooLong(buf.len()));
                            return;
                        }
                        if tx.send(Block::Lines(buf)).is_err() || eof {
                            return;
                        }
                    }
                }
            }
        });
        // The receiver lives in this closure, so an early return (a parse error) drops it before
        // the scope joins the inflating thread: its blocked `send` then fails and it ends,
        // instead of waiting forever on a full channel nobody reads.
        let rx = rx;
        for msg in rx.iter() {
            let block = match msg {
                Block::Lines(b) => b,
                Block::Failed(e) => {
                    let what = if gz { "gzip data is truncated or corrupt" } else { "read failed" };
                    return Err(Error::parse(path, line, format!("{what}: {e}")));
                }
                Block::LineTooLong(len) => {
                    return Err(Error::parse(
                        path,
                        line,
                        format!("line is longer than {max_line} bytes (read {len} without an end of line)"),
                    ));
                }
            };
            total += block.len() as u64;
            let mut rows = Rows { path, buf: &block, pos: 0, line };
            f(&mut rows)?;
            line = rows.line;
            let _ = back_tx.try_send(block);
        }
        Ok(())
    })?;
    Ok(total)
}

/// A reader that reports its progress.
struct Counting<'a, R> {
    inner: R,
    pb: &'a Task,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pb.inc(n as u64);
        Ok(n)
    }
}

/// Cursor over the complete lines of one block.
pub struct Rows<'a> {
    path: &'a Path,
    buf: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Rows<'a> {
    /// The next non-empty line as a [`Row`], or `None` at the end of the block.
    #[inline]
    pub fn next_row(&mut self) -> Option<Row<'a>> {
        loop {
            if self.pos >= self.buf.len() {
                return None;
            }
            let rest = &self.buf[self.pos..];
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let mut s = &rest[..end];
            self.pos += end + 1;
            let line = self.line;
            self.line += 1;
            if let [head @ .., b'\r'] = s {
                s = head;
            }
            if !s.is_empty() {
                return Some(Row { path: self.path, s, pos: 0, line, field: 0 });
            }
        }
    }
}

/// One line's comma-separated fields, read left to right.
pub struct Row<'a> {
    path: &'a Path,
    s: &'a [u8],
    pos: usize,
    line: u64,
    field: usize,
}

impl<'a> Row<'a> {
    /// 1-based line number.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// An error about this line.
    pub fn error(&self, msg: impl Into<String>) -> Error {
        Error::parse(self.path, self.line, msg)
    }

    fn field_text(&self) -> String {
        let rest = &self.s[self.pos.min(self.s.len())..];
        let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        let t = String::from_utf8_lossy(&rest[..end.min(40)]).into_owned();
        if t.is_empty() { "an empty field".into() } else { format!("'{t}'") }
    }

    fn missing(&self, what: &str) -> Error {
        self.error(format!(
            "expected {what} in column {}, but the line ends after {} column(s)",
            self.field + 1,
            self.field
        ))
    }

    #[inline]
    fn after_field(&mut self, what: &str) -> Result<()> {
        self.field += 1;
        match self.s.get(self.pos) {
            None => Ok(()),
            Some(b',') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => {
                self.field -= 1;
                Err(self.error(format!("expected {what} in column {}, found {}", self.field + 1, self.field_text())))
            }
        }
    }

    /// Whether fields remain on the line.
    pub fn has_more(&self) -> bool {
        self.pos < self.s.len() || (self.field > 0 && self.s.last() == Some(&b','))
    }

    /// A non-negative integer field (a node id, a count, a class).
    #[inline]
    pub fn uint(&mut self) -> Result<u64> {
        if self.pos >= self.s.len() && !self.has_more() {
            return Err(self.missing("a non-negative integer"));
        }
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&c) = self.s.get(self.pos) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = match v.checked_mul(10).and_then(|v| v.checked_add(d as u64)) {
                Some(v) => v,
                None => {
                    return Err(self.error(format!("integer in column {} is too large", self.field + 1)));
                }
            };
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error(format!(
                "expected a non-negative integer in column {}, found {}",
                self.field + 1,
                self.field_text()
            )));
        }
        self.after_field("a non-negative integer")?;
        Ok(v)
    }

    /// The current field's text as written (up to the next comma), without consuming it.
    pub fn peek_field(&self) -> &'a [u8] {
        let rest = &self.s[self.pos.min(self.s.len())..];
        let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
        &rest[..end]
    }

    /// A label field: `nan` (any case) is `None`; otherwise a non-negative integer written as
    /// digits, optionally followed by `.` and zeros (`4`, `4.0`). Anything else, `1e2` or
    /// `01e-400` included, is an error quoting the field: a label is never read through a float.
    pub fn label(&mut self) -> Result<Option<u64>> {
        if self.pos >= self.s.len() && !self.has_more() {
            return Err(self.missing("a label"));
        }
        let rest = &self.s[self.pos..];
        let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
        let text = &rest[..end];
        let value = if text.eq_ignore_ascii_case(b"nan") {
            Some(None)
        } else {
            let digits = text.iter().take_while(|c| c.is_ascii_digit()).count();
            let tail = &text[digits..];
            let zeros = matches!(tail, [b'.', zeros @ ..] if zeros.iter().all(|&c| c == b'0'));
            let value = (digits > 0 && digits <= 18 && (tail.is_empty() || zeros))
                .then(|| text[..digits].iter().fold(0u64, |v, &c| v * 10 + (c - b'0') as u64));
            value.map(Some)
        };
        match value {
            Some(v) => {
                self.pos += end;
                self.after_field("a label")?;
                Ok(v)
            }
            None => Err(self.error(format!(
                "expected a class id or task label (a non-negative integer, or nan for none) in column {}, found {}",
                self.field + 1,
                quoted(text)
            ))),
        }
    }

    /// A whole line of exactly two non-negative integers (an edge row). The common case is
    /// parsed in one tight loop; anything else goes through [`Row::uint`] and [`Row::end`] for
    /// their exact error messages.
    #[inline]
    pub fn uint_pair(&mut self) -> Result<(u64, u64)> {
        let s = self.s;
        if self.pos == 0 {
            let digits = |from: usize| {
                let mut v = 0u64;
                let mut i = from;
                while i < s.len() && s[i].is_ascii_digit() && i - from < 19 {
                    v = v * 10 + (s[i] - b'0') as u64;
                    i += 1;
                }
                (v, i)
            };
            let (a, i) = digits(0);
            if i > 0 && i < 19 && s.get(i) == Some(&b',') {
                let (b, j) = digits(i + 1);
                if j == s.len() && j > i + 1 && j - i - 1 < 19 {
                    self.pos = j;
                    self.field = 2;
                    return Ok((a, b));
                }
            }
        }
        let a = self.uint()?;
        let b = self.uint()?;
        self.end(2)?;
        Ok((a, b))
    }

    /// A whole line of exactly `cols` short decimals (see [`parse_short_decimal`]) appended to
    /// `out`, in one pass without per-field bookkeeping. Returns false, with `out` and the row
    /// untouched, when the line is anything else (the caller then parses field by field).
    #[inline]
    pub fn short_decimals(&mut self, cols: usize, out: &mut Vec<f32>) -> bool {
        if self.pos != 0 {
            return false;
        }
        let start = out.len();
        let s = self.s;
        let mut i = 0;
        for c in 0..cols {
            match parse_short_decimal(&s[i..]) {
                Some((v, n)) => {
                    out.push(v);
                    i += n;
                    let last = c + 1 == cols;
                    if last && i == s.len() {
                        self.pos = i;
                        self.field = cols;
                        return true;
                    }
                    if last || s.get(i) != Some(&b',') {
                        break;
                    }
                    i += 1;
                }
                None => break,
            }
        }
        out.truncate(start);
        false
    }

    /// A signed integer field.
    #[inline]
    pub fn int(&mut self) -> Result<i64> {
        let neg = self.s.get(self.pos) == Some(&b'-');
        if neg {
            self.pos += 1;
        }
        let v = self.uint().map_err(|e| {
            if neg {
                self.pos -= 1;
            }
            match e {
                Error::Parse { .. } => {
                    self.error(format!("expected an integer in column {}, found {}", self.field + 1, self.field_text()))
                }
                e => e,
            }
        })?;
        let v = i64::try_from(v).map_err(|_| self.error("integer out of range"))?;
        Ok(if neg { -v } else { v })
    }

    /// A float field (`nan` and `inf` parse; callers decide whether they are allowed).
    #[inline]
    pub fn float(&mut self) -> Result<f32> {
        if self.pos >= self.s.len() && !self.has_more() {
            return Err(self.missing("a number"));
        }
        if let Some((v, n)) = parse_short_decimal(&self.s[self.pos..]) {
            self.pos += n;
            self.after_field("a number")?;
            return Ok(v);
        }
        match fast_float2::parse_partial::<f32, _>(&self.s[self.pos..]) {
            Ok((v, n)) if n > 0 => {
                self.pos += n;
                self.after_field("a number")?;
                Ok(v)
            }
            _ => {
                Err(self.error(format!("expected a number in column {}, found {}", self.field + 1, self.field_text())))
            }
        }
    }

    /// Checks that the line holds exactly `cols` fields (call after reading them).
    #[inline]
    pub fn end(&self, cols: usize) -> Result<()> {
        if self.has_more() {
            let extra = 1 + self.s[self.pos..].iter().filter(|&&b| b == b',').count();
            return Err(self.error(format!("expected {cols} column(s), found {}", cols + extra)));
        }
        Ok(())
    }

    /// Number of fields on the line (without consuming it).
    pub fn count_fields(&self) -> usize {
        1 + self.s.iter().filter(|&&b| b == b',').count()
    }
}

/// A field's text in quotes, exactly as written (shortened past 64 bytes).
pub(crate) fn quoted(text: &[u8]) -> String {
    if text.is_empty() {
        return "an empty field".into();
    }
    let shown = String::from_utf8_lossy(&text[..text.len().min(64)]);
    if text.len() > 64 { format!("'{shown}...'") } else { format!("'{shown}'") }
}

const POW10: [f32; 11] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// The common case of OGB's feature files, `[-]digits[.digits]` with at most 7 significant
/// digits, without a general parser: the digits form an integer m < 2^24 and the value is
/// m / 10^k, both exact in f32, so one IEEE division gives the correctly rounded result.
/// Anything else (exponents, nan, long mantissas) returns `None` for the general parser.
#[inline]
fn parse_short_decimal(b: &[u8]) -> Option<(f32, usize)> {
    let mut i = usize::from(b.first() == Some(&b'-'));
    let mut m: u32 = 0;
    let mut digits = 0;
    let mut k = 0;
    let mut seen_dot = false;
    while let Some(&c) = b.get(i) {
        if c.is_ascii_digit() {
            if digits == 9 {
                return None;
            }
            m = m * 10 + (c - b'0') as u32;
            digits += 1;
            k += seen_dot as usize;
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if c == b',' {
            break;
        } else {
            return None;
        }
        i += 1;
    }
    if digits == 0 || m >= 1 << 24 || k > 10 {
        return None;
    }
    let v = m as f32 / POW10[k];
    Some((if b[0] == b'-' { -v } else { v }, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn short_decimals_parse_exactly_like_the_standard_library() {
        let mut r = rand_pcg::Pcg64::seed_from_u64(1);
        for _ in 0..200_000 {
            let x: f64 = (r.random::<f64>() - 0.5) * 10f64.powi(r.random_range(-3..6));
            let decimals = r.random_range(0..8);
            let text = format!("{x:.decimals$}");
            let want: f32 = text.parse().unwrap();
            match parse_short_decimal(text.as_bytes()) {
                Some((v, n)) => {
                    assert_eq!(n, text.len());
                    assert_eq!(v.to_bits(), want.to_bits(), "{text}");
                }
                None => {
                    assert!(text.trim_start_matches(['-', '0', '.']).len() > 7 || decimals > 10, "{text} fell back")
                }
            }
        }
        for t in ["1e5", "nan", "inf", "", "-", ".", "1.2.3", "12345678901"] {
            assert!(parse_short_decimal(t.as_bytes()).is_none(), "{t}");
        }
        assert_eq!(parse_short_decimal(b"-3.3248,1"), Some((-3.3248, 7)));
    }
}
