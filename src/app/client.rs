//! The iManage side of the settings: the client's settings, signing in, the libraries to protect.

use super::AppError;
use crate::config::{ImanageSettings, Settings};
use crate::imanage::model::LibraryId;
use crate::imanage::{Client, ClientSettings};

/// The client settings of an `[imanage]` table.
pub fn client_settings(im: &ImanageSettings) -> ClientSettings {
    let mut cs = ClientSettings::new(
        im.url.clone(),
        im.client_id.clone(),
        im.client_secret.clone(),
        im.username.clone(),
        im.auth_key.clone(),
    );
    cs.requests_per_second = im.requests_per_second.get();
    cs.concurrency = im.concurrency.get();
    cs
}

/// The `[imanage]` table, which commands that reach the tenant need.
pub fn imanage_settings(settings: &Settings) -> Result<&ImanageSettings, AppError> {
    if let Some(e) = &settings.imanage_unavailable {
        return Err(AppError::ImanageSecrets(e.clone()));
    }
    settings
        .imanage
        .as_ref()
        .ok_or_else(|| AppError::NoImanage {
            config: settings
                .source
                .as_ref()
                .map(|p| format!(" {}", p.display()))
                .unwrap_or_default(),
        })
}

/// Signs in with `im` and runs discovery.
pub async fn sign_in(im: &ImanageSettings) -> Result<Client, AppError> {
    Client::connect(client_settings(im))
        .await
        .map_err(|source| AppError::SignIn {
            url: im.url.clone(),
            username: im.username.clone(),
            source: Box::new(source),
        })
}

/// Signs in with the settings' `[imanage]` table.
pub async fn connect(settings: &Settings) -> Result<Client, AppError> {
    sign_in(imanage_settings(settings)?).await
}

/// Selects the libraries to back up: the configured filter, narrowed to `wanted` if not empty.
/// A wanted library the account cannot see is an error.
pub fn select_libraries(
    client: &Client,
    settings: &Settings,
    wanted: &[String],
) -> Result<Vec<LibraryId>, AppError> {
    let filter = &imanage_settings(settings)?.libraries;
    let available: Vec<&LibraryId> = client.libraries().iter().map(|l| &l.id).collect();
    for w in wanted {
        if !available.iter().any(|a| a.as_str().eq_ignore_ascii_case(w)) {
            return Err(AppError::UnknownLibrary {
                wanted: w.clone(),
                available: available
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(available
        .into_iter()
        .filter(|l| filter.matches(l.as_str()))
        .filter(|l| wanted.is_empty() || wanted.iter().any(|w| l.as_str().eq_ignore_ascii_case(w)))
        .cloned()
        .collect())
}
