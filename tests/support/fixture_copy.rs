//! Copies a fixture project into a scratch directory, so a test may write into it (init,
//! edits) and name the directory after itself: the image name comes from the directory, and
//! suites running side by side must not build over each other's images.

use std::path::Path;

/// Copies the tree at `from` to `to` (created), files and directories only.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
