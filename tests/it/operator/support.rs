//! Running the `imvault` binary as an operator would.

use std::path::Path;
use std::process::{Command, Output};

/// The binary with a clean environment: no inherited configuration or secrets.
pub fn imvault_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imvault"));
    for k in [
        "IMVAULT_CONFIG",
        "IMVAULT_CLIENT_SECRET",
        "IMVAULT_AUTH_KEY",
        "CREDENTIALS_DIRECTORY",
        "IMVAULT_LOG",
        "AWS_SECRET_ACCESS_KEY",
        "IMVAULT_PASSWORD",
        "IMVAULT_NEW_PASSWORD",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with everything printed unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// `imvault --config CONFIG ARGS...`.
pub fn run(config: &Path, args: &[&str]) -> Run {
    Run::from(
        imvault_cmd()
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .expect("run imvault"),
    )
}

/// `imvault ARGS...` without a configuration.
pub fn run_bare(args: &[&str]) -> Run {
    Run::from(imvault_cmd().args(args).output().expect("run imvault"))
}
