//! Files rdsfleet creates are private to the user who runs it: state files, the simulator's
//! world, plans, reports and logs describe a fleet (identifiers, versions, topology, what is
//! in flight), so files are created 0600 and directories 0700. An existing directory keeps its
//! permissions (it is the operator's); SQLite gives a database's `-wal` and `-shm` files the
//! permissions of the database file itself.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

/// `mkdir -p` with mode 0700 for every directory it creates.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Open `path` for writing, truncated; created with mode 0600 if it does not exist.
pub fn create_private_file(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Create an empty file with mode 0600 if `path` does not exist (a SQLite database about to be
/// created: SQLite then opens it as an empty database, and never chooses its mode itself).
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_private_existing_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("a/b");
        create_private_dir_all(&deep).unwrap();
        assert_eq!((mode(&d.path().join("a")), mode(&deep)), (0o700, 0o700));
        let f = deep.join("f");
        ensure_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        ensure_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o640, "an existing file keeps its mode");
        create_private_file(&deep.join("g")).unwrap();
        assert_eq!(mode(&deep.join("g")), 0o600);
    }
}
