//! Running the documentation's command blocks as written: the blocks marked
//! `<!-- first-hour: NAME -->` (or `<!-- first-hour: NAME, background -->` for a command that
//! runs until stopped) right above a ```` ```sh ```` fence, run one after the other as one shell
//! session (`cd` and `export` carry over) with the real binary on `PATH` as `imvault`
//! (CONTRIBUTING.md, "Documentation that runs").

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::support::Run;
use crate::support::wait::wait_for;

/// One marked command block of a markdown file.
#[derive(Debug, Clone)]
pub struct Block {
    pub name: String,
    pub background: bool,
    pub script: String,
}

/// The marked blocks of `markdown`, in order. A marker not followed by a ```` ```sh ```` fence
/// fails the test: a marked block never silently stops running.
pub fn marked_blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- first-hour:")
            .and_then(|m| m.strip_suffix("-->"))
        else {
            continue;
        };
        let mut words = marker.split(',').map(str::trim);
        let name = words.next().unwrap_or_default().to_string();
        let background = words.any(|w| w == "background");
        let fence = lines.next().unwrap_or_default();
        let indent = fence.len() - fence.trim_start().len();
        assert_eq!(
            fence.trim(),
            "```sh",
            "the marker of {name:?} is not right above a ```sh fence"
        );
        let mut script = String::new();
        for l in lines.by_ref() {
            if l.trim() == "```" {
                break;
            }
            script.push_str(l.get(indent..).unwrap_or(l.trim_start()));
            script.push('\n');
        }
        out.push(Block {
            name,
            background,
            script,
        });
    }
    out
}

/// A command running in the background (a block marked `background`, or the daemon).
pub struct Background {
    pub name: String,
    pub child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {}", self.name);
    }

    /// Waits (up to `within`) for the process to end after a signal; its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let mut status = None;
        let child = &mut self.child;
        wait_for(&format!("{} to exit", self.name), within, || {
            status = child.try_wait().unwrap();
            status.is_some()
        })
        .await;
        status.unwrap().code()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An operator's shell: a private `HOME`, the binary on `PATH`, and the state (`cd`, `export`)
/// carried from one block to the next.
pub struct Shell {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    env: Vec<(String, String)>,
    /// Literal replacements made in each block: only values the documentation calls the
    /// reader's own (ports, host paths).
    pub substitutions: Vec<(String, String)>,
}

impl Shell {
    /// A shell starting in `cwd` (None: the new HOME).
    pub fn new(cwd: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let bin = dir.path().join("bin");
        let state = dir.path().join("shell");
        for d in [&home, &bin, &state] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_imvault"), bin.join("imvault")).unwrap();
        std::fs::write(
            state.join("cwd"),
            cwd.unwrap_or(&home).to_str().unwrap().to_string() + "\n",
        )
        .unwrap();
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
        let env = vec![
            ("PATH".into(), path),
            ("HOME".into(), home.display().to_string()),
            ("NO_COLOR".into(), "1".into()),
            ("TERM".into(), "dumb".into()),
            ("LANG".into(), "C.UTF-8".into()),
            ("FIRST_HOUR_SHELL".into(), state.display().to_string()),
        ];
        Self {
            dir,
            home,
            env,
            substitutions: Vec::new(),
        }
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.push((key.into(), value.into()));
    }

    pub fn substitute(&mut self, from: &str, to: &str) {
        self.substitutions.push((from.into(), to.into()));
    }

    pub fn localized(&self, text: &str) -> String {
        self.substitutions
            .iter()
            .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
    }

    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.arg("-c").arg(script).stdin(Stdio::null());
        cmd
    }

    /// The prelude of every block: stop at the first failing command; the last block's
    /// exports and directory.
    fn prelude() -> &'static str {
        "set -eo pipefail\n\
         if [ -f \"$FIRST_HOUR_SHELL/env\" ]; then . \"$FIRST_HOUR_SHELL/env\"; fi\n\
         cd \"$(cat \"$FIRST_HOUR_SHELL/cwd\")\"\n"
    }

    /// Runs a block to its end (its exports and `cd` are kept for the next one).
    pub fn run(&self, script: &str) -> Run {
        let script = format!(
            "{}trap 'export -p > \"$FIRST_HOUR_SHELL/env\"; pwd > \"$FIRST_HOUR_SHELL/cwd\"' EXIT\n{}",
            Self::prelude(),
            self.localized(script)
        );
        Run::from(self.command(&script).output().unwrap())
    }

    /// Starts a one-command block in the background (as in a second terminal, with this
    /// shell's exports and directory).
    pub fn spawn(&self, name: &str, script: &str) -> Background {
        let command = self.localized(script);
        let command = command.trim();
        assert_eq!(command.lines().count(), 1, "{name}: one command: {command}");
        let stdout = self.dir.path().join(format!("{name}.stdout"));
        let stderr = self.dir.path().join(format!("{name}.stderr"));
        let child = self
            .command(&format!("{}exec {command}\n", Self::prelude()))
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Background {
            name: name.into(),
            child,
            stdout,
            stderr,
        }
    }

    /// Starts a process outside the shell (as systemd would), its output kept like a block's.
    pub fn spawn_command(&self, name: &str, mut cmd: Command) -> Background {
        let stdout = self.dir.path().join(format!("{name}.stdout"));
        let stderr = self.dir.path().join(format!("{name}.stderr"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Background {
            name: name.into(),
            child,
            stdout,
            stderr,
        }
    }
}

/// Waits until something listens on 127.0.0.1:`port` (a background command is up), failing
/// early with its output if it exits first.
pub async fn wait_listening(bg: &mut Background, port: u16) {
    let mut exited = None;
    wait_for(
        &format!("{} to listen on port {port}", bg.name),
        Duration::from_secs(60),
        || {
            exited = bg.child.try_wait().unwrap();
            exited.is_some() || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        },
    )
    .await;
    assert!(
        exited.is_none(),
        "{} exited ({exited:?})\nstdout:\n{}\nstderr:\n{}",
        bg.name,
        bg.stdout(),
        bg.stderr()
    );
}

#[test]
fn markers_need_a_sh_fence_right_below() {
    let blocks = marked_blocks(
        "text\n<!-- first-hour: one -->\n```sh\necho 1\necho 2\n```\n\n  <!-- first-hour: two, background -->\n  ```sh\n  sleep 1\n  ```\n",
    );
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].name, "one");
    assert_eq!(blocks[0].script, "echo 1\necho 2\n");
    assert!(!blocks[0].background);
    assert_eq!(blocks[1].name, "two");
    assert_eq!(blocks[1].script, "sleep 1\n");
    assert!(blocks[1].background);
    let r = std::panic::catch_unwind(|| marked_blocks("<!-- first-hour: x -->\n\n```sh\n```\n"));
    assert!(r.is_err(), "a marker away from its fence is refused");
}
