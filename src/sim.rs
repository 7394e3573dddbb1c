//! The imvault client and the embedded simulator joined: client settings that sign in to a
//! running simulator. The simulator itself is its own crate, `imvault_sim` (crates/imvault-sim),
//! with its own reading of the contract; it never uses imvault's types.

use std::net::SocketAddr;

use imvault_sim::credentials;

use crate::imanage::ClientSettings;
use crate::secret::Secret;

/// Client settings that sign in to a simulator listening on `addr` with its credentials
/// (benchmarks, examples); limits and retries are the defaults.
pub fn client_settings(addr: SocketAddr) -> ClientSettings {
    ClientSettings::new(
        format!("http://{addr}")
            .parse()
            .expect("a socket address makes a valid URL"),
        credentials::CLIENT_ID,
        Secret::new(credentials::CLIENT_SECRET),
        credentials::USERNAME,
        Secret::new(credentials::AUTH_KEY),
    )
}
