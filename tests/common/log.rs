//! The TEST_LOG switch. Set (`TEST_LOG=1`), the servers a test starts log at `RUST_LOG`'s
//! level (default `info,marketchat=debug,sqlx=warn`): in-process ones to the test's stdout
//! (shown for a failing test, or always with `--nocapture`), node processes to the run's
//! stderr. Unset, they are silent but for the log files some tests read.

use std::sync::Once;

/// The log filter servers use when TEST_LOG is set; `None` when it is not.
pub fn test_log_filter() -> Option<String> {
    std::env::var_os("TEST_LOG").filter(|value| !value.is_empty())?;
    Some(std::env::var("RUST_LOG").unwrap_or_else(|_| "info,marketchat=debug,sqlx=warn".to_owned()))
}

/// With TEST_LOG set, installs (once per test binary) the subscriber that in-process
/// servers log through; without it, installs nothing, so their log goes nowhere.
pub fn init_in_process_logging() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        if let Some(filter) = test_log_filter() {
            let filter = tracing_subscriber::EnvFilter::new(filter);
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
    });
}
