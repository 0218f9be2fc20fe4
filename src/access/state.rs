//! The request states and the only transitions between them, in one place. A [`Transition`] can only
//! be made here, and the database functions that change a request's state take one, so no code writes
//! a state the machine does not allow. The database guards each transition with a conditional update
//! on the expected state and version (see `db::transition`).

use std::fmt;

/// Where a request stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, sqlx::Type, serde::Serialize, serde::Deserialize,
)]
#[sqlx(type_name = "request_state", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Draft,
    Submitted,
    InReview,
    ChangesRequested,
    Approved,
    Rejected,
    Withdrawn,
}

/// What someone does to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The applicant submits a draft.
    Submit,
    /// A reviewer's first action on a submitted request.
    StartReview,
    /// A reviewer asks the applicant for changes.
    RequestChanges,
    /// The applicant submits again after changes.
    Resubmit,
    Approve,
    Reject,
    /// The applicant withdraws.
    Withdraw,
}

/// A step the state machine allows, from one state to the next. Its fields are private: only
/// [`RequestState::apply`] (and [`Transition::submission`]) make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    from: RequestState,
    to: RequestState,
}

impl Transition {
    /// A new request submitted straight from the cart: draft → submitted.
    pub fn submission() -> Self {
        Self {
            from: RequestState::Draft,
            to: RequestState::Submitted,
        }
    }

    /// The state the request is in before the step.
    pub fn from(self) -> RequestState {
        self.from
    }

    /// The state the request is in after the step.
    pub fn to(self) -> RequestState {
        self.to
    }
}

/// An action that the request's state does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionError {
    pub from: RequestState,
    pub action: Action,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a request that is {} cannot be {}",
            self.from.label().to_lowercase(),
            self.action.past_tense()
        )
    }
}

impl RequestState {
    /// Every state, in the order of the workflow.
    pub const ALL: [Self; 7] = [
        Self::Draft,
        Self::Submitted,
        Self::InReview,
        Self::ChangesRequested,
        Self::Approved,
        Self::Rejected,
        Self::Withdrawn,
    ];

    /// The step `action` makes from this state, if the transition exists.
    pub fn apply(self, action: Action) -> Result<Transition, TransitionError> {
        use Action as A;
        use RequestState as S;
        let next = match (self, action) {
            (S::Draft, A::Submit) => S::Submitted,
            (S::Submitted, A::StartReview) => S::InReview,
            (S::InReview, A::RequestChanges) => S::ChangesRequested,
            (S::ChangesRequested, A::Resubmit) => S::Submitted,
            (S::InReview, A::Approve) => S::Approved,
            (S::InReview, A::Reject) => S::Rejected,
            (S::Draft | S::Submitted | S::InReview | S::ChangesRequested, A::Withdraw) => {
                S::Withdrawn
            }
            (from, action) => return Err(TransitionError { from, action }),
        };
        Ok(Transition {
            from: self,
            to: next,
        })
    }

    /// The transitions a reviewer's action makes from this state: a submitted request first moves
    /// into review. Empty when the action is not possible.
    pub fn reviewer_path(self, action: Action) -> Result<Vec<Transition>, TransitionError> {
        let mut path = Vec::new();
        let mut state = self;
        if state == Self::Submitted {
            let step = state.apply(Action::StartReview)?;
            path.push(step);
            state = step.to;
        }
        if action != Action::StartReview {
            path.push(state.apply(action)?);
        }
        Ok(path)
    }

    /// Whether the request is still waiting for someone (not finished).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Draft | Self::Submitted | Self::InReview | Self::ChangesRequested
        )
    }

    /// Whether reviewers can act on it (comment, request changes, vote, decide).
    pub fn is_reviewable(self) -> bool {
        matches!(self, Self::Submitted | Self::InReview)
    }

    /// The stored name (the `request_state` enum of the database).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::ChangesRequested => "changes_requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// The state with this stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == raw)
    }

    /// The state in words, for pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Submitted => "Submitted",
            Self::InReview => "In review",
            Self::ChangesRequested => "Changes requested",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::Withdrawn => "Withdrawn",
        }
    }
}

impl Action {
    /// What was done, for messages ("cannot be withdrawn").
    pub fn past_tense(self) -> &'static str {
        match self {
            Self::Submit => "submitted",
            Self::StartReview => "taken into review",
            Self::RequestChanges => "sent back for changes",
            Self::Resubmit => "resubmitted",
            Self::Approve => "approved",
            Self::Reject => "rejected",
            Self::Withdraw => "withdrawn",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Action as A;
    use super::RequestState as S;
    use super::*;

    const ACTIONS: [Action; 7] = [
        A::Submit,
        A::StartReview,
        A::RequestChanges,
        A::Resubmit,
        A::Approve,
        A::Reject,
        A::Withdraw,
    ];

    #[test]
    fn exactly_the_designed_transitions_exist() {
        let allowed: Vec<(S, A, S)> = S::ALL
            .iter()
            .flat_map(|from| ACTIONS.iter().map(move |action| (*from, *action)))
            .filter_map(|(from, action)| {
                from.apply(action)
                    .ok()
                    .map(|step| (step.from(), action, step.to()))
            })
            .collect();
        assert_eq!(
            allowed,
            vec![
                (S::Draft, A::Submit, S::Submitted),
                (S::Draft, A::Withdraw, S::Withdrawn),
                (S::Submitted, A::StartReview, S::InReview),
                (S::Submitted, A::Withdraw, S::Withdrawn),
                (S::InReview, A::RequestChanges, S::ChangesRequested),
                (S::InReview, A::Approve, S::Approved),
                (S::InReview, A::Reject, S::Rejected),
                (S::InReview, A::Withdraw, S::Withdrawn),
                (S::ChangesRequested, A::Resubmit, S::Submitted),
                (S::ChangesRequested, A::Withdraw, S::Withdrawn),
            ]
        );
    }

    #[test]
    fn finished_requests_accept_nothing() {
        for state in [S::Approved, S::Rejected, S::Withdrawn] {
            assert!(!state.is_open());
            for action in ACTIONS {
                let error = state.apply(action).unwrap_err();
                assert_eq!(error.from, state);
            }
        }
        assert_eq!(
            S::Approved.apply(A::Approve).unwrap_err().to_string(),
            "a request that is approved cannot be approved"
        );
    }

    fn steps(path: Vec<Transition>) -> Vec<(S, S)> {
        path.into_iter()
            .map(|step| (step.from(), step.to()))
            .collect()
    }

    #[test]
    fn a_reviewer_acting_on_a_submitted_request_first_takes_it_into_review() {
        assert_eq!(
            steps(S::Submitted.reviewer_path(A::Approve).unwrap()),
            vec![(S::Submitted, S::InReview), (S::InReview, S::Approved)]
        );
        assert_eq!(
            steps(S::InReview.reviewer_path(A::RequestChanges).unwrap()),
            vec![(S::InReview, S::ChangesRequested)]
        );
        assert_eq!(
            steps(S::Submitted.reviewer_path(A::StartReview).unwrap()),
            vec![(S::Submitted, S::InReview)]
        );
        assert!(S::ChangesRequested.reviewer_path(A::Approve).is_err());
        assert!(S::Approved.reviewer_path(A::Reject).is_err());
    }

    #[test]
    fn a_transition_starts_where_the_request_stands() {
        let step = S::InReview.apply(A::Approve).unwrap();
        assert_eq!((step.from(), step.to()), (S::InReview, S::Approved));
        let chained = S::Draft.apply(A::Submit).unwrap();
        assert_eq!(chained, Transition::submission());
        assert_eq!(
            chained.to().apply(A::StartReview).unwrap().from(),
            S::Submitted
        );
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for state in S::ALL {
            assert_eq!(S::parse(state.as_str()), Some(state));
        }
        assert_eq!(S::parse("granted"), None);
    }
}
