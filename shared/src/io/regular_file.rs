//! Reading a user-named file whole, only when it is a regular file of a sane size: a
//! device (`/dev/zero`), a FIFO or a socket would read forever or block, and a file far
//! larger than any image or model would only exhaust memory.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads `path` if it is a regular file (symlinks followed) of at most `max_bytes`;
/// `what` names the kind of file in messages ("an image", "a model").
pub fn read_regular(path: &Path, max_bytes: u64, what: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::file(
            path,
            format!("not a regular file ({}); expected {what} file", kind(&meta)),
        ));
    }
    if meta.len() > max_bytes {
        return Err(Error::file(
            path,
            format!(
                "{} MB, larger than the {} MB {what} file may have",
                meta.len() >> 20,
                max_bytes >> 20
            ),
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take` also bounds a file that grows while it is read.
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::file(
            path,
            format!("grew past {} MB while being read", max_bytes >> 20),
        ));
    }
    Ok(bytes)
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a folder"
    } else {
        "not a plain file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_folders_and_big_files_are_refused_before_reading() {
        let e = read_regular(Path::new("/dev/zero"), 1 << 20, "an image").unwrap_err();
        assert!(
            e.to_string()
                .contains("/dev/zero: not a regular file (a device)"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read_regular(dir.path(), 1 << 20, "a model").unwrap_err();
        assert!(e.to_string().contains("a folder"), "{e}");
        let big = dir.path().join("big.png");
        std::fs::write(&big, vec![0u8; 3 << 20]).unwrap();
        let e = read_regular(&big, 2 << 20, "an image").unwrap_err();
        assert!(e.to_string().contains("larger than the 2 MB"), "{e}");
        assert_eq!(
            read_regular(&big, 3 << 20, "an image").unwrap().len(),
            3 << 20
        );
    }
}
