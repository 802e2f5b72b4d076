//! Every error the binding raises, converted to a JavaScript Error at the boundary with a `code`
//! JavaScript can branch on.

#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    #[error(transparent)]
    Config(#[from] fastlane_core::config::ConfigErrors),
    #[error(transparent)]
    Runtime(#[from] fastlane_runtime::RuntimeError),
    #[error(transparent)]
    Testbed(#[from] fastlane_testbed::TestbedError),
    #[error("{0}")]
    InvalidArgument(String),
}

impl BindingError {
    fn code(&self) -> &'static str {
        match self {
            BindingError::Config(_) => "ERR_FASTLANE_CONFIG",
            BindingError::Runtime(fastlane_runtime::RuntimeError::Config(_)) => {
                "ERR_FASTLANE_CONFIG"
            }
            BindingError::Runtime(_) => "ERR_FASTLANE_START",
            BindingError::Testbed(_) => "ERR_FASTLANE_TESTBED",
            BindingError::InvalidArgument(_) => "ERR_INVALID_ARG_VALUE",
        }
    }
}

impl From<BindingError> for napi::Error {
    fn from(e: BindingError) -> Self {
        napi::Error::new(napi::Status::GenericFailure, format!("[{}] {e}", e.code()))
    }
}
