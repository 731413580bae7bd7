//! Where the current time comes from: one clock in the server's state that every service
//! reads, so a test can fix it or move it forward.

use crate::domain::time::UnixMillis;
use std::fmt;
use std::sync::Arc;

/// A source of the current time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> UnixMillis + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::from_fn(|| UnixMillis::new(chrono::Utc::now().timestamp_millis()))
    }

    /// A clock that reads `now` (tests fix or advance it).
    pub fn from_fn(now: impl Fn() -> UnixMillis + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// Now.
    pub fn now(&self) -> UnixMillis {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}
