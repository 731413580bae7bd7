//! What the suite needs from the machine (a PostgreSQL server, Chromium): when something is
//! missing the run ends at once with one line saying what to start or install, instead of
//! every test that needs it failing with its own wall of errors.

use crate::common::db::postgres_admin_url;
use std::io::Write;
use std::sync::Once;
use std::time::Duration;

/// Ends the whole test run with `line` on stderr, exit status 2.
pub fn stop_run(line: &str) -> ! {
    // Straight to the process's stderr: the harness captures `eprintln!` of a test.
    let _ = writeln!(std::io::stderr(), "error: {line}");
    std::process::exit(2);
}

/// How long one suite binary may run before it is ended as hung (a warm run takes
/// 5–8 minutes on two cores).
const SUITE_DEADLINE: Duration = Duration::from_secs(20 * 60);

/// Ends the run when it goes past [`SUITE_DEADLINE`]: a hung test then fails the run
/// with a line saying so (libtest has named it in a "running for over 60 seconds" line)
/// instead of holding CI until its own timeout.
pub fn start_watchdog() {
    std::thread::spawn(|| {
        std::thread::sleep(SUITE_DEADLINE);
        stop_run(&format!("the suite ran past {} minutes: a test hangs (libtest named it above: \"has been running for over 60 seconds\")", SUITE_DEADLINE.as_secs() / 60));
    });
}

/// Ends the run when `available` is false: "the test suite needs `what`".
fn require(available: bool, what: &str) {
    if !available {
        stop_run(&format!("the test suite needs {what}"));
    }
}

/// Checks once per test binary that PostgreSQL answers (the PostgreSQL run needs it).
pub fn require_postgres() {
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| {
        let admin = postgres_admin_url();
        // Off the test's runtime: this may be called from inside one.
        let reachable = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let connect = sqlx::PgConnection::connect(&format!("{admin}/postgres"));
            // The timeout is made inside the runtime, which its timer needs.
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), connect).await }).is_ok_and(|connected| connected.is_ok())
        })
        .join()
        .unwrap_or(false);
        require(reachable, &format!("PostgreSQL at {} (start it, or set MARKETCHAT_TEST_POSTGRES)", postgres_admin_url()));
    });
}

/// Checks that Debian's `chromium` and `chromedriver` are installed (the portal tests).
pub fn require_chromium() {
    let installed = |program: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    require(
        installed("chromium") && installed("chromedriver"),
        "Chromium and chromedriver (apt-get install chromium chromium-driver)",
    );
}

/// Checks that `promtool` is installed (Debian's `prometheus` package; the alert rules'
/// tests).
pub fn require_promtool() {
    let installed = std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("promtool").is_file()));
    require(installed, "promtool (apt-get install prometheus; .ci/run installs it)");
}

/// Where the test identity provider lives (a node project: tests/oidc).
pub fn oidc_provider_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Checks that node and the test identity provider's packages are installed (the
/// single sign-on tests).
pub fn require_oidc_provider() {
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|output| output.status.success());
    require(node, "node (apt-get install nodejs npm)");
    require(
        oidc_provider_dir().join("node_modules/oidc-provider/package.json").is_file(),
        "the test identity provider's packages (run `npm ci` in tests/oidc; .ci/run does)",
    );
}
