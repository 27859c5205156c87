//! A cap on line length for the text formats: [`LineCap`] wraps a file and fails the read once a
//! line passes [`MAX_LINE`] bytes, so a 10 MB line (a minified JSON array, a binary file named
//! `.csv`) is a clear error naming its line instead of a buffer that grows until memory runs out.

use std::io::{self, Read};

/// The longest line (bytes, newline excluded) the JSONL and CSV readers accept: 1 MiB.
pub const MAX_LINE: usize = 1 << 20;

/// The error a [`LineCap`] read fails with: the 1-based line that is too long.
#[derive(Debug)]
pub struct TooLong(pub usize);

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is longer than {MAX_LINE} bytes", self.0)
    }
}

impl std::error::Error for TooLong {}

/// The line a read error is about, when it is a [`LineCap`]'s.
pub fn too_long(e: &io::Error) -> Option<usize> {
    e.get_ref()?.downcast_ref::<TooLong>().map(|t| t.0)
}

/// A reader that counts lines and fails once one is longer than `max` bytes.
pub struct LineCap<R> {
    inner: R,
    max: usize,
    /// The 1-based line being read and how many of its bytes were read so far.
    line: usize,
    run: usize,
}

impl<R: Read> LineCap<R> {
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE)
    }

    pub fn with_max(inner: R, max: usize) -> Self {
        LineCap {
            inner,
            max,
            line: 1,
            run: 0,
        }
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.line += 1;
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > self.max {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        TooLong(self.line),
                    ));
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_fails_with_its_number_and_short_lines_pass() {
        let text = b"ab\ncdef\nghijklmnop\n".as_slice();
        let mut out = Vec::new();
        let err = LineCap::with_max(text, 5)
            .read_to_end(&mut out)
            .unwrap_err();
        assert_eq!(too_long(&err), Some(3));
        let mut out = Vec::new();
        LineCap::with_max(text, 10).read_to_end(&mut out).unwrap();
        assert_eq!(out, text);
        assert_eq!(too_long(&io::Error::other("x")), None);
    }
}
