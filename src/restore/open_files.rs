//! This process's open files limit: raised towards what a restore's windows need, and telling
//! when it has run out.

/// How many files this process may have open (the soft `RLIMIT_NOFILE`), raised first towards
/// `want` as far as the hard limit allows (never lowered): a shell's default soft limit (often
/// 1024) is far below the hard one (often 524288), and a restore's windows need a few thousand.
/// `None` if unknown.
#[cfg(unix)]
pub(super) fn open_files_limit_at_least(want: u64) -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return None;
    }
    let target = want.min(rl.rlim_max);
    if rl.rlim_cur >= target {
        return Some(rl.rlim_cur);
    }
    let raised = libc::rlimit {
        rlim_cur: target,
        rlim_max: rl.rlim_max,
    };
    // SAFETY: setrlimit reads one rlimit struct we own; any soft limit up to the hard one is
    // allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Some(rl.rlim_cur);
    }
    tracing::debug!(
        from = rl.rlim_cur,
        to = target,
        "raised the open files limit"
    );
    Some(target)
}

/// See the Unix version; unknown elsewhere.
#[cfg(not(unix))]
pub(super) fn open_files_limit_at_least(_want: u64) -> Option<u64> {
    None
}

/// Whether `e` says the process (or the system) has no file descriptor left.
pub(super) fn out_of_descriptors(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The soft open files limit as (soft, hard).
    #[cfg(unix)]
    fn nofile() -> (u64, u64) {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit struct we own.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
        (rl.rlim_cur, rl.rlim_max)
    }

    /// A soft open files limit below what a restore wants is raised towards it, never past the
    /// hard limit, and never lowered. Run in a child process of this test binary started with a
    /// soft limit of 64 (changing the limit of this process would reach the other tests).
    #[cfg(unix)]
    #[test]
    fn a_low_soft_open_files_limit_is_raised_within_the_hard_one() {
        const CHILD: &str = "IMVAULT_TEST_NOFILE_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let (soft, hard) = nofile();
            assert_eq!(soft, 64, "the child starts with a soft limit of 64");
            let want = 4_160;
            let got = open_files_limit_at_least(want).unwrap();
            assert_eq!(got, want.min(hard));
            assert_eq!(
                nofile(),
                (got, hard),
                "the process's limit is the one returned"
            );
            assert_eq!(open_files_limit_at_least(100), Some(got), "never lowered");
            return;
        }
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "restore::open_files::tests::a_low_soft_open_files_limit_is_raised_within_the_hard_one",
                "--test-threads=1",
            ])
            .env(CHILD, "1");
        // SAFETY: only getrlimit and setrlimit (async-signal-safe) between fork and exec.
        unsafe {
            child.pre_exec(|| {
                let mut rl = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                rl.rlim_cur = 64;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("test result: ok. 1 passed"),
            "the child ran the test: {stdout}"
        );
    }
}
