//! Reading the files a scenario names (the scenario itself, rule files,
//! request bodies, mock answer files) with bounds: only regular files (a FIFO
//! would block forever, `/dev/zero` would eat all memory) and at most
//! [`MAX_INPUT_BYTES`]. Every input file goes through here.

use std::io::Read;
use std::path::Path;

/// Largest input file ordeal reads.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Why a file could not be read; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file (a directory, FIFO or device); give the path of a file")]
    NotAFile,
    #[error("larger than {} MiB; ordeal reads input files up to that size", MAX_INPUT_BYTES >> 20)]
    TooLarge,
    #[error("not UTF-8 text")]
    NotUtf8,
}

/// The file's bytes, if it is a regular file of at most [`MAX_INPUT_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    // metadata() follows symlinks and never opens the file, so a FIFO cannot block here.
    if !std::fs::metadata(path)?.is_file() {
        return Err(ReadError::NotAFile);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path) -> Result<String, ReadError> {
    String::from_utf8(read(path)?).map_err(|_| ReadError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read(&fifo), Err(ReadError::NotAFile)), "a FIFO must not block");
        assert!(matches!(read(Path::new("/dev/zero")), Err(ReadError::NotAFile)));
        assert!(matches!(read(dir.path()), Err(ReadError::NotAFile)));
        let big = dir.path().join("big");
        std::fs::File::create(&big).unwrap().set_len(MAX_INPUT_BYTES + 1).unwrap();
        assert!(matches!(read(&big), Err(ReadError::TooLarge)));
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "a: 1\n").unwrap();
        assert_eq!(read_to_string(&ok).unwrap(), "a: 1\n");
        std::fs::write(&ok, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_to_string(&ok), Err(ReadError::NotUtf8)));
    }
}
