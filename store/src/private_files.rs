//! Files and folders Carnet creates to hold data (the SQLite database and its `-wal`/`-shm`,
//! the local secrets under `data/`): readable by their owner only, whatever the umask — mode
//! 0600 for files, 0700 for the folders it creates. Existing files and folders keep their mode:
//! an operator who chose another one keeps it.

use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, mode 0700 (the ones that exist are left alone).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the empty file `path` mode 0600, and its folder (see [`create_private_dir`]), unless
/// it exists. SQLite then opens it as a new database, and gives its `-wal` and `-shm` files
/// the database file's mode.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    match open_new_private_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))),
    }
}

/// Opens the new file `path` for writing, mode 0600, its folder made as [`create_private_dir`]
/// does; `AlreadyExists` if it exists.
fn open_new_private_file(path: &Path) -> io::Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes the new file `path` holding `bytes`, mode 0600, its folder made as
/// [`create_private_dir`] does; fails if the file exists (two first runs at once: one wins, the
/// other fails instead of replacing what the first wrote). For the local secrets and keys.
pub fn write_new_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    std::io::Write::write_all(&mut open_new_private_file(path)?, bytes)
}

/// Replaces the file `path` with `bytes`, atomically (a private `<path>.tmp` renamed over it),
/// mode 0600: a reader sees the old content or the new, never a part. For what a process keeps
/// of its own state (the last checkpoint a server issued, the last one a witness cosigned).
pub fn replace_private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    write_new_private_file(&temporary, bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", temporary.display())))?;
    std::fs::rename(&temporary, path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}
