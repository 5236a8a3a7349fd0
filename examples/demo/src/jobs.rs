//! Long-running work: a job runs in the background while its page shows progress and reloads
//! itself, then the outcome (or a readable error). Only the last 20 jobs are kept.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

const KEPT: usize = 20;

/// A job's state, for its page.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) started_by: String,
    /// 0 to 100.
    pub(crate) percent: u8,
    pub(crate) step: String,
    /// `None` while running; then the outcome, or the error to show.
    pub(crate) outcome: Option<Result<String, String>>,
}

/// The job registry; clones share it.
#[derive(Clone, Default)]
pub(crate) struct Jobs {
    inner: Arc<Mutex<(u64, VecDeque<Job>)>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jobs")
    }
}

/// What a running job uses to report progress.
#[derive(Clone)]
pub(crate) struct Progress {
    jobs: Jobs,
    id: u64,
}

impl Progress {
    pub(crate) fn report(&self, percent: u8, step: impl Into<String>) {
        let step = step.into();
        self.jobs.update(self.id, |job| {
            job.percent = percent.min(100);
            job.step = step;
        });
    }
}

impl Jobs {
    /// Starts `work` in the background and returns the job's id.
    pub(crate) fn start<F, Fut>(&self, title: &str, started_by: &str, work: F) -> u64
    where
        F: FnOnce(Progress) -> Fut,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        let id = {
            let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            guard.0 += 1;
            let id = guard.0;
            guard.1.push_back(Job {
                id,
                title: title.to_owned(),
                started_by: started_by.to_owned(),
                percent: 0,
                step: "starting".into(),
                outcome: None,
            });
            while guard.1.len() > KEPT {
                guard.1.pop_front();
            }
            id
        };
        let fut = work(Progress {
            jobs: self.clone(),
            id,
        });
        let jobs = self.clone();
        tokio::spawn(async move {
            // A panic in the job is reported on its page, not lost.
            let outcome = match tokio::spawn(fut).await {
                Ok(outcome) => outcome,
                Err(_) => Err("the job crashed; the details are in the server's log".into()),
            };
            jobs.update(id, |job| {
                if outcome.is_ok() {
                    job.percent = 100;
                }
                job.outcome = Some(outcome);
            });
        });
        id
    }

    pub(crate) fn get(&self, id: u64) -> Option<Job> {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.1.iter().find(|j| j.id == id).cloned()
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(job) = guard.1.iter_mut().find(|j| j.id == id) {
            f(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait(jobs: &Jobs, id: u64) -> Job {
        for _ in 0..200 {
            let job = jobs.get(id).unwrap();
            if job.outcome.is_some() {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("job {id} did not finish within 1 s");
    }

    #[tokio::test]
    async fn outcomes_errors_and_panics_are_recorded() {
        let jobs = Jobs::default();
        let ok = jobs.start("ok", "alice", |p| async move {
            p.report(50, "half");
            Ok("done".into())
        });
        let failed = jobs.start("fails", "alice", |_| async { Err("disk full".into()) });
        let panicked = jobs.start("panics", "alice", |_| async {
            if true {
                panic!("a bug");
            }
            Ok(String::new())
        });
        let ok = wait(&jobs, ok).await;
        assert_eq!((ok.percent, ok.outcome), (100, Some(Ok("done".into()))));
        assert_eq!(
            wait(&jobs, failed).await.outcome,
            Some(Err("disk full".into()))
        );
        let crashed = wait(&jobs, panicked).await.outcome.unwrap().unwrap_err();
        assert!(crashed.contains("crashed"));
        for _ in 0..KEPT {
            jobs.start("filler", "alice", |_| async { Ok(String::new()) });
        }
        assert!(jobs.get(1).is_none(), "only the last {KEPT} are kept");
    }
}
