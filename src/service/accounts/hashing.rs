//! Password hashing on a bounded pool: at most one argon2 computation per core at a time
//! (each takes 19 MiB), so a burst of logins queues instead of exhausting memory. A
//! request that cannot get a turn within `queue_wait` is told to come back later.
//! Verification reuses one working buffer per turn: allocating and freeing 19 MiB per
//! login left the allocator holding hundreds of MiB after a burst (glibc keeps such
//! chunks once its mmap threshold has risen), even with only two hashes at a time.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Semaphore;

/// The most argon2 memory (in 1 KiB blocks) a stored hash may ask for: four times the
/// default, so a tampered row cannot make one check allocate without bound.
const MAX_BLOCKS: usize = 4 * Params::DEFAULT_M_COST as usize;

/// How long a password check waits for a free core before giving up.
pub const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// Why a hashing job did not run.
#[derive(Debug, Error)]
pub enum HashPoolError {
    /// Every core was busy for the whole wait.
    #[error("the server is busy checking passwords; try again shortly")]
    Busy,
    /// Hashing itself failed.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Runs argon2 jobs, at most `threads` at once.
pub struct HashPool {
    permits: Arc<Semaphore>,
    threads: usize,
    queue_wait: Duration,
    /// Working memory kept between checks; never more buffers than `threads`.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl HashPool {
    /// A pool of one job per core (`std::thread::available_parallelism`).
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()), QUEUE_WAIT)
    }

    /// A pool running at most `threads` jobs, each waiting at most `queue_wait` for a turn.
    pub fn new(threads: usize, queue_wait: Duration) -> Self {
        let threads = threads.max(1);
        Self { permits: Arc::new(Semaphore::new(threads)), threads, queue_wait, buffers: Arc::default() }
    }

    /// Jobs that may run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `job` on a blocking thread once a turn is free. The turn is held until the
    /// job ends, even if the caller stops waiting, so the bound holds under cancellation.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashPoolError> {
        let permit = match tokio::time::timeout(self.queue_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => return Err(HashPoolError::Busy),
        };
        tokio::task::spawn_blocking(move || {
            let _turn = permit;
            job()
        })
        .await
        .map_err(|error| HashPoolError::Failed(error.to_string()))
    }

    /// An argon2id hash (PHC string) of `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashPoolError> {
        self.run(move || hash_now(&password)).await?
    }

    /// Whether `password` matches `stored` (a PHC string); `None` checks against a dummy
    /// hash instead, taking as long, so the answer's timing does not tell whether the
    /// account exists.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<bool, HashPoolError> {
        let buffers = self.buffers.clone();
        self.run(move || {
            let mut blocks = buffers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop().unwrap_or_default();
            let matches = match stored {
                Some(stored) => verify_now(&stored, &password, &mut blocks),
                None => {
                    let _ = verify_now(dummy_hash(), &password, &mut blocks);
                    false
                }
            };
            buffers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(blocks);
            matches
        })
        .await
    }
}

fn hash_now(password: &str) -> Result<String, HashPoolError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| HashPoolError::Failed(error.to_string()))
}

/// Whether `password` matches the PHC string `stored`, computing in `blocks` (grown as
/// needed and kept for the next check). The comparison is constant-time.
fn verify_now(stored: &str, password: &str, blocks: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    if params.block_count() > MAX_BLOCKS {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    if blocks.len() < params.block_count() {
        blocks.resize(params.block_count(), Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, &mut blocks[..]).is_err() {
        return false;
    }
    Output::new(&computed).is_ok_and(|computed| computed == expected)
}

/// A hash of a random password with the same parameters as real ones, computed once.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let password = crate::domain::keys::generate_secret(&mut rand::thread_rng(), "dummy_").secret;
        // Hashing with fixed parameters and a generated salt does not fail; if it ever
        // did, an unparseable dummy still costs no less than a parse of a real one.
        hash_now(&password).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn hashes_verify_and_the_dummy_never_matches() {
        let pool = HashPool::new(2, QUEUE_WAIT);
        let hash = pool.hash("correct horse".to_owned()).await.unwrap();
        assert!(pool.verify(Some(hash.clone()), "correct horse".to_owned()).await.unwrap());
        assert!(!pool.verify(Some(hash), "wrong".to_owned()).await.unwrap());
        assert!(!pool.verify(None, "correct horse".to_owned()).await.unwrap());
        assert!(dummy_hash().starts_with("$argon2id$"), "the dummy is a real argon2id hash");
        assert!(pool.buffers.lock().unwrap().len() <= pool.threads(), "buffers are reused, one per turn at most");
    }

    #[test]
    fn verification_agrees_with_the_argon2_crate_and_refuses_hostile_hashes() {
        use argon2::password_hash::PasswordVerifier;
        let hash = hash_now("correct horse").unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        let mut blocks = Vec::new();
        for password in ["correct horse", "correct hors", ""] {
            let theirs = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
            assert_eq!(verify_now(&hash, password, &mut blocks), theirs, "{password:?}");
        }
        assert!(verify_now(&hash, "correct horse", &mut blocks), "a reused buffer still verifies");
        let greedy = hash.replace("m=19456", "m=4000000");
        assert!(!verify_now(&greedy, "correct horse", &mut Vec::new()), "no check allocates gigabytes for a tampered row");
        assert!(!verify_now("not a hash", "x", &mut blocks));
        assert!(!verify_now("", "x", &mut blocks));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_jobs_run_at_once_than_the_pool_has_threads_and_the_queue_gives_up() {
        let pool = Arc::new(HashPool::new(2, Duration::from_millis(100)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(300));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        let mut busy = 0;
        for job in jobs {
            if matches!(job.await.unwrap(), Err(HashPoolError::Busy)) {
                busy += 1;
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at a time");
        assert_eq!(busy, 4, "the rest gave up after 100 ms instead of queueing forever");
    }
}
