//! Every request of a paginated describe passes the caller's API budget, not only the first.
//!
//! A describe is one backend call but many RDS requests: one per page of `MaxRecords`, and one
//! per chunk of filter values. The caller ([`crate::effects::Executor`]) takes a token for the
//! call itself and runs it inside [`scope`] with its budget as the [`RequestGate`]; the backend
//! (the AWS adapter's paginators, the simulator's paged answers) awaits [`Requests::next`]
//! before every request after the first. Outside a scope (planning, inventory) the gate is
//! open: those reads have their own retries and no budget.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a request after the first waits for: a token of the region's budget.
pub trait RequestGate: Send + Sync {
    fn admit<'a>(&'a self, region: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

tokio::task_local! {
    static GATE: Arc<dyn RequestGate>;
}

/// Run `f` (one backend call) with `gate` admitting its further requests.
pub async fn scope<F: Future>(gate: Arc<dyn RequestGate>, f: F) -> F::Output {
    GATE.scope(gate, f).await
}

/// One more request of a backend call whose first request was already made (by a nested
/// call): wait at the gate in scope, if any.
pub async fn another(region: &str) {
    if let Ok(gate) = GATE.try_with(Arc::clone) {
        gate.admit(region).await;
    }
}

/// The requests of one backend call to `region`: the first is the caller's; each later one
/// waits for the gate in scope, if any.
#[derive(Debug)]
pub struct Requests<'a> {
    region: &'a str,
    sent: usize,
}

impl<'a> Requests<'a> {
    pub fn new(region: &'a str) -> Self {
        Requests { region, sent: 0 }
    }

    /// Call before sending each request.
    pub async fn next(&mut self) {
        self.sent += 1;
        if self.sent > 1 {
            another(self.region).await;
        }
    }

    /// Requests announced so far.
    pub fn sent(&self) -> usize {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Count(Mutex<Vec<String>>);
    impl RequestGate for Count {
        fn admit<'a>(&'a self, region: &'a str) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
            Box::pin(async move { self.0.lock().unwrap().push(region.to_string()) })
        }
    }

    #[tokio::test]
    async fn only_requests_after_the_first_wait_and_only_inside_a_scope() {
        let gate = Arc::new(Count(Mutex::new(vec![])));
        let three = || async {
            let mut r = Requests::new("eu-west-1");
            for _ in 0..3 {
                r.next().await;
            }
            r.sent()
        };
        assert_eq!(three().await, 3);
        assert!(gate.0.lock().unwrap().is_empty(), "no scope: open");
        assert_eq!(scope(gate.clone(), three()).await, 3);
        assert_eq!(*gate.0.lock().unwrap(), ["eu-west-1", "eu-west-1"]);
    }
}
