//! The napi binding: converts configs, errors and statistics at the edge; no packet logic here.
//! The hand-written TypeScript in `src-ts/` wraps these classes.

pub mod batch;
pub mod dataplane;
pub mod device_plugin;
pub mod error;
pub mod neighbours;
pub mod shm;
pub mod testbed;

use napi_derive::napi;

/// One config error, named by its JSON path.
#[napi(object)]
#[derive(Debug)]
pub struct ConfigIssue {
    pub path: String,
    pub message: String,
}

/// Parses and checks a config document the way `start` will; returns every error with its JSON
/// path, or an empty list.
#[napi]
pub fn check_config(json: String) -> Vec<ConfigIssue> {
    match fastlane_core::Config::from_json(&json) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .0
            .into_iter()
            .map(|e| ConfigIssue {
                path: e.path,
                message: e.message,
            })
            .collect(),
    }
}
