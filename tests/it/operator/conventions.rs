//! What operators expect of any Unix tool: quiet on a closed pipe, shell completions, a
//! manual page, help for every flag with the global ones apart.

use std::io::Read as _;
use std::process::Stdio;

use super::support::{imvault_cmd, run_bare};

/// `imvault … | head`: the reader goes away before the output is written. The process ends
/// without a panic or an error message (by SIGPIPE, as Unix tools do).
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // The reader closes before anything is written.
    for args in [
        &["completions", "bash"][..],
        &["manpage"][..],
        &["--help"][..],
    ] {
        let mut child = imvault_cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn imvault");
        drop(child.stdout.take()); // `head` exits at once
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
        assert!(err.trim().is_empty(), "{args:?}: nothing on stderr: {err}");
        use std::os::unix::process::ExitStatusExt as _;
        assert!(
            status.success() || status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {status:?}"
        );
    }
}

#[test]
fn shell_completions_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef imvault"),
        ("fish", "complete -c imvault"),
    ] {
        let r = run_bare(&["completions", shell]).expect(0);
        assert!(r.stdout.contains(marker), "{shell}: {}", &r.stdout[..200]);
        // Subcommands and their flags are completed.
        for word in ["restore", "snapshots", "into-folder", "keep-daily"] {
            assert!(r.stdout.contains(word), "{shell} completes {word}");
        }
    }
    let r = run_bare(&["completions", "tcsh"]).expect(2);
    assert!(r.stderr.contains("bash"), "{}", r.stderr);
}

#[test]
fn manual_pages_from_the_command_line_definition() {
    let r = run_bare(&["manpage"]).expect(0);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH imvault 1"),
        "{}",
        &r.stdout[..200]
    );
    assert!(r.stdout.contains("Backup data mover"), "the about text");
    assert!(r.stdout.contains("restore"), "lists the commands");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    run_bare(&["manpage", "--dir", out.to_str().unwrap()]).expect(0);
    let page = std::fs::read_to_string(out.join("imvault-restore.1")).expect("a page per command");
    assert!(page.contains("into\\-folder"), "{page}");
    assert!(out.join("imvault.1").exists());
    assert!(
        out.join("imvault-jobs-list.1").exists(),
        "nested commands too"
    );
    // For every user of the host (`man` runs as them), unlike imvault's other files.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), 0o755);
    assert_eq!(mode(&out.join("imvault-restore.1")), 0o644);
}

/// `imvault backup --help`: the command's own options, then the global ones under their own
/// heading; flags that had no help text have it.
#[test]
fn help_lists_global_options_apart() {
    let r = run_bare(&["backup", "--help"]).expect(0);
    let own = r.stdout.find("Options:").expect("own options");
    let global = r
        .stdout
        .find("Global options:")
        .expect("global options heading");
    assert!(own < global, "{}", r.stdout);
    let (own_part, global_part) = r.stdout.split_at(global);
    assert!(own_part.contains("--full"), "{own_part}");
    assert!(!own_part.contains("--config"), "{own_part}");
    for flag in ["--config", "--log-format", "--verbose"] {
        assert!(global_part.contains(flag), "{flag}: {global_part}");
    }
    let r = run_bare(&["find", "--help"]).expect(0);
    for (flag, help) in [
        ("--json", "JSON"),
        ("--library", "library"),
        ("--author", "author"),
    ] {
        let line = r
            .stdout
            .lines()
            .skip_while(|l| !l.contains(flag))
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(line.contains(help), "{flag} has help: {line:?}");
    }
}
