//! `imvault sim`: run the iManage simulator (the `imvault-sim` crate) until ctrl-c or SIGTERM,
//! after printing the address and the credentials to use.

use anyhow::Context as _;
use imvault_sim::{Server, SimOptions};

use super::Exit;
use super::runtime;
use crate::cli::SimArgs;

pub fn run(args: &SimArgs) -> anyhow::Result<Exit> {
    runtime()?.block_on(async {
        let (_, handle) = Server::start(SimOptions::from(args))?;
        println!("{}", handle.banner());
        println!("Press ctrl-c to stop.");
        wait_for_stop_signal().await;
        handle.stopped().await.context("running the simulator")?;
        Ok(Exit::Success)
    })
}

/// ctrl-c, or SIGTERM where there is one (systemd, `kill`).
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
