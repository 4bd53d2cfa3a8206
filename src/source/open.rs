//! Opening a text input as the readers see it: stdin or a file, gunzipped when its first bytes
//! are gzip's magic number (whatever its name says), with a leading UTF-8 byte-order mark
//! dropped. The sequential reader and the chunk cutter of parallel parsing both open the input
//! here, so byte offsets (where the data after a CSV header starts) mean the same to both.
//! Owned by one thread at a time (the reader or the cutter).

use crate::error::{Error, Result};
use crate::sink::Format;
use std::io::Read;
use std::path::Path;

/// The UTF-8 byte-order mark some editors (Excel among them) put before the first byte.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// gzip's magic number.
const GZIP_MAGIC: &[u8] = b"\x1F\x8B";

/// Opens `path` (`-` for stdin): decompressed, without a byte-order mark.
pub fn open_input(path: &str) -> Result<Box<dyn Read + Send>> {
    let input: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| Error::io(format!("--input {path}: cannot open"), e))?,
        )
    };
    decode(input, path)
}

/// For a file read at byte offsets (`source::ranges`): how many bytes of the file come before
/// the text `open_input` gives (3 for a BOM, else 0), or `None` when the file is gzipped, whose
/// text offsets are not file offsets.
pub fn plain_text_skip(file: &std::fs::File, path: &str) -> Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 3];
    let mut len = 0;
    while len < head.len() {
        match file.read_at(&mut head[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("--input {path}: read failed"), e)),
        }
    }
    let head = &head[..len];
    Ok(if head.starts_with(GZIP_MAGIC) {
        None
    } else if head.starts_with(BOM) {
        Some(BOM.len() as u64)
    } else {
        Some(0)
    })
}

/// `input` gunzipped if it starts with gzip's magic number, and without a leading BOM.
pub fn decode(input: Box<dyn Read + Send>, path: &str) -> Result<Box<dyn Read + Send>> {
    let head = Peeked::new(input, path)?;
    let inner: Box<dyn Read + Send> = if head.starts_with(GZIP_MAGIC) {
        Box::new(GzipErrors {
            inner: flate2::read::MultiGzDecoder::new(head),
        })
    } else {
        Box::new(head)
    };
    let mut text = Peeked::new(inner, path)?;
    if text.starts_with(BOM) {
        text.skip(BOM.len());
    }
    Ok(Box::new(text))
}

/// The input's format from its name, looking through a `.gz` suffix: `.jsonl` / `.json` /
/// `.ndjson` are JSON lines, anything else CSV.
pub fn input_format(path: &str) -> Format {
    let p = Path::new(path);
    let p = match p.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("gz") => Path::new(p.file_stem().unwrap_or_default()),
        _ => p,
    };
    match p.extension().and_then(|e| e.to_str()) {
        Some(e) if ["jsonl", "json", "ndjson"].contains(&e.to_ascii_lowercase().as_str()) => {
            Format::JsonLines
        }
        _ => Format::Csv,
    }
}

/// A reader whose first few bytes have been looked at (and can be skipped) before the rest
/// is read straight through.
struct Peeked {
    inner: Box<dyn Read + Send>,
    head: [u8; 3],
    len: usize,
    pos: usize,
}

impl Peeked {
    /// Reads up to three bytes ahead (fewer only at end of input): a pipe may deliver them
    /// one at a time.
    fn new(mut inner: Box<dyn Read + Send>, path: &str) -> Result<Peeked> {
        let mut head = [0u8; 3];
        let mut len = 0;
        while len < head.len() {
            match inner.read(&mut head[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("--input {path}: read failed"), e)),
            }
        }
        Ok(Peeked {
            inner,
            head,
            len,
            pos: 0,
        })
    }

    fn starts_with(&self, prefix: &[u8]) -> bool {
        self.head[self.pos..self.len].starts_with(prefix)
    }

    fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}

impl Read for Peeked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.len {
            let n = (self.len - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// gzip decoding errors say that they are about the compressed stream.
struct GzipErrors<R> {
    inner: R,
}

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("invalid gzip data (the input starts with gzip's magic number): {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        decode(Box::new(std::io::Cursor::new(bytes)), "t")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_leading_bom_is_dropped_and_nothing_else() {
        assert_eq!(read_all(b"\xEF\xBB\xBFa,b\n".to_vec()), b"a,b\n");
        assert_eq!(read_all(b"a\xEF\xBB\xBF".to_vec()), b"a\xEF\xBB\xBF");
        assert_eq!(read_all(b"ab".to_vec()), b"ab");
        assert_eq!(read_all(Vec::new()), b"");
    }

    #[test]
    fn gzip_is_decompressed_bom_and_all() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"\xEF\xBB\xBFts,v\n1,2\n").unwrap();
        assert_eq!(read_all(gz.finish().unwrap()), b"ts,v\n1,2\n");
    }

    #[test]
    fn formats_look_through_gz() {
        assert_eq!(input_format("a.jsonl.gz"), Format::JsonLines);
        assert_eq!(input_format("a.csv.gz"), Format::Csv);
        assert_eq!(input_format("a.JSON"), Format::JsonLines);
        assert_eq!(input_format("-"), Format::Csv);
    }
}
