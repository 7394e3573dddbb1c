//! Reading a secret from a file that only its owner may read or change.

use std::io::Read as _;
use std::path::Path;

/// Why a secret file was not read.
#[derive(Debug)]
pub enum SecretFileError {
    Io(std::io::Error),
    /// Group or others may read or change it (`mode`); nothing was read.
    Shared {
        mode: u32,
    },
}

impl SecretFileError {
    /// The problem and its fix, naming `path`.
    pub fn describe(&self, path: &Path) -> String {
        match self {
            Self::Io(e) => format!("{}: {e}", path.display()),
            Self::Shared { mode } => format!(
                "{} can be read or changed by group or others (mode {mode:04o}); make it private: chmod 600 {}",
                path.display(),
                path.display()
            ),
        }
    }
}

/// The text of secret file `path`, refused (before reading) when group or others may read or
/// write it. Files systemd hands over (`$CREDENTIALS_DIRECTORY`, `exempt`) are its to protect.
pub fn read(path: &Path, exempt: bool) -> Result<String, SecretFileError> {
    let mut f = std::fs::File::open(path).map_err(SecretFileError::Io)?;
    #[cfg(unix)]
    if !exempt {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = f
            .metadata()
            .map_err(SecretFileError::Io)?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o066 != 0 {
            return Err(SecretFileError::Shared { mode });
        }
    }
    #[cfg(not(unix))]
    let _ = exempt;
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(SecretFileError::Io)?;
    Ok(text)
}
