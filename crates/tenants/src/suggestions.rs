//! Pending Companies' suggestions: the companies each waiting tenant looks like, best first
//! (`ferry_domain::matching`). The tenants are indexed once; the companies stream past them and
//! each is scored only against the tenants it shares a key with.

use ferry_domain::matching::{CandidateIndex, Party, Prepared, compare};
use ferry_storage::{CandidateCompany, PossibleMatch};

use crate::parties::company_party;

/// Suggestions kept per tenant, best first.
pub const KEPT: usize = 5;

/// Tenants waiting for their suggestions.
#[derive(Default)]
pub struct Suggester {
    tenants: Vec<Prepared>,
    index: CandidateIndex,
    best: Vec<Vec<PossibleMatch>>,
}

impl Suggester {
    /// Adds a tenant; answers its number, the index of its suggestions in [`Self::finish`].
    pub fn add(&mut self, tenant: Party) -> usize {
        let prepared = Prepared::new(tenant);
        self.index.add(&prepared);
        self.tenants.push(prepared);
        self.best.push(Vec::new());
        self.tenants.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }

    /// Scores `company` against the tenants it shares a key with, keeping it where it is among
    /// a tenant's best.
    pub fn offer(&mut self, company: &CandidateCompany) {
        let prepared = Prepared::new(company_party(company));
        for n in self.index.candidates(&prepared) {
            let n = n as usize;
            let like = compare(&self.tenants[n], &prepared);
            if !like.suggested() {
                continue;
            }
            let best = &mut self.best[n];
            let suggestion = PossibleMatch {
                id: company.id,
                name: company.name.clone(),
                score: like.score,
                reasons: like.reasons.iter().map(ToString::to_string).collect(),
            };
            let at = best.partition_point(|b| (b.score, -b.id) > (suggestion.score, -suggestion.id));
            if at < KEPT {
                best.insert(at, suggestion);
                best.truncate(KEPT);
            }
        }
    }

    /// Each tenant's suggestions, best first, in the order the tenants were added.
    pub fn finish(self) -> Vec<Vec<PossibleMatch>> {
        self.best
    }
}
