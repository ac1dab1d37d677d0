//! Operator sessions: a `tgs_…` secret handed out once, stored as its SHA-256 with who it is for, whether it was
//! asked with `scope=admin`, and when it expires (default 1 h, at most 8 h). Looking one up recomputes the
//! roles from the bindings in force.

use serde::{Deserialize, Serialize};

use super::bindings::{IamRole, Principal};
use super::secret::{Secret, SecretKind, sha256_hex};
use super::{OperatorError, Operators};
use crate::clock::UnixTime;
use crate::store::Record;

/// Who signed in. Stored in the session record (no secret in it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The provider's configured name (`bootstrap` for the break-glass secret).
    pub provider: String,
    pub subject: String,
    /// The value of the provider's `user_claim`.
    pub user: String,
    /// The email, only when the provider said it is verified.
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// The provider's `admin_role` claim matched.
    pub admin_claim: bool,
    /// Signed in with the break-glass secret.
    pub bootstrap: bool,
}

#[derive(Serialize, Deserialize)]
struct SessionBody {
    operator: Operator,
    admin_scope: bool,
}

/// A session in force, as a request sees it.
#[derive(Clone, Debug)]
pub struct SessionView {
    pub id: String,
    pub operator: Operator,
    /// The session asked for `scope=admin` (and was eligible when it did).
    pub admin_scope: bool,
    /// Roles from the bindings in force.
    pub roles: Vec<IamRole>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// A new session: its secret, shown once, and what it holds.
#[derive(Debug)]
pub struct Issued {
    pub secret: Secret,
    pub session: SessionView,
}

/// What a call needs. Every admin route names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Any signed-in operator (who am I, sign out).
    SignedIn,
    /// Read the admin API (`role/viewer`, or an admin-eligible identity).
    View,
    /// Read runners (also `role/runner.admin`).
    ViewRunners,
    /// Create, rotate, delete runners: `scope=admin` and `role/admin` or `role/runner.admin`.
    ManageRunners,
    /// Every other write: `scope=admin` and admin eligibility.
    Administer,
}

impl Permission {
    pub fn describe(self) -> &'static str {
        match self {
            Permission::SignedIn => "do this",
            Permission::View => "read the admin API (needs role/viewer or role/admin)",
            Permission::ViewRunners => "read runners (needs role/viewer, role/runner.admin or role/admin)",
            Permission::ManageRunners => {
                "manage runners (needs a session with scope=admin and role/runner.admin or role/admin)"
            }
            Permission::Administer => "administer (needs a session with scope=admin and role/admin)",
        }
    }
}

impl SessionView {
    fn has(&self, role: &IamRole) -> bool {
        self.roles.contains(role)
    }

    /// Admin-eligible: bound to `role/admin`, the provider's admin claim, or break-glass.
    pub fn is_admin_eligible(&self) -> bool {
        self.has(&IamRole::Admin) || self.operator.admin_claim || self.operator.bootstrap
    }

    /// May ask for `scope=admin` at all.
    pub fn may_request_admin(&self) -> bool {
        self.is_admin_eligible() || self.has(&IamRole::RunnerAdmin)
    }

    pub(super) fn allows(&self, permission: Permission) -> bool {
        let viewer = self.has(&IamRole::Viewer) || self.is_admin_eligible();
        match permission {
            Permission::SignedIn => true,
            Permission::View => viewer,
            Permission::ViewRunners => viewer || self.has(&IamRole::RunnerAdmin),
            Permission::ManageRunners => {
                self.admin_scope && (self.is_admin_eligible() || self.has(&IamRole::RunnerAdmin))
            }
            Permission::Administer => self.admin_scope && self.is_admin_eligible(),
        }
    }

    /// The session's scopes, as granted.
    pub fn scopes(&self) -> Vec<&'static str> {
        if self.admin_scope { vec!["admin"] } else { Vec::new() }
    }
}

impl Operators {
    fn roles_of(&self, operator: &Operator) -> Vec<IamRole> {
        let principal = Principal::Operator {
            provider: &operator.provider,
            sub: &operator.subject,
            verified_email: operator.email.as_deref(),
            groups: &operator.groups,
        };
        self.config.bindings.roles_of(&principal)
    }

    /// Opens a session for `operator`, refusing `scope=admin` to an identity that may not hold it.
    pub(super) async fn open_session(
        &self,
        operator: Operator,
        admin_scope: bool,
        ttl_secs: Option<u32>,
    ) -> Result<Issued, OperatorError> {
        let now = self.clock.now();
        let ttl = ttl_secs.map_or(self.config.session_secs, i64::from);
        if !(60..=self.config.max_session_secs).contains(&ttl) {
            return Err(OperatorError::BadRequest(format!("ttl_seconds must be 60..{}", self.config.max_session_secs)));
        }
        let secret = Secret::generate(SecretKind::Session).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        let id = sha256_hex(secret.digest().as_bytes()).chars().take(16).collect::<String>();
        let mut session = SessionView {
            id,
            roles: self.roles_of(&operator),
            operator,
            admin_scope,
            created_at: now,
            expires_at: now.plus_secs(ttl),
        };
        if admin_scope && !session.may_request_admin() {
            return Err(OperatorError::NotEligible(session.operator.user.clone()));
        }
        // An identity nothing is granted to gets no session: it could do nothing with it but fill the store.
        if session.roles.is_empty() && !session.is_admin_eligible() {
            return Err(OperatorError::Forbidden("sign in: no role binding names this identity"));
        }
        let body = SessionBody { operator: session.operator.clone(), admin_scope };
        let body = serde_json::to_string(&body).map_err(|e| OperatorError::BadRequest(e.to_string()))?;
        let record = Record {
            id: session.id.clone(),
            lookup: secret.digest(),
            body,
            created_at: now,
            expires_at: session.expires_at,
        };
        self.store.add_session(&record).await?;
        session.roles = self.roles_of(&session.operator);
        Ok(Issued { secret, session })
    }

    /// The session a presented secret opens, if it is well formed, known and unexpired.
    pub async fn session(&self, presented: &str) -> Result<SessionView, OperatorError> {
        let secret = Secret::parse(SecretKind::Session, presented)
            .map_err(|_| OperatorError::Unauthenticated("not a Tollgate session token"))?;
        let now = self.clock.now();
        let record = self
            .store
            .session_by_digest(&secret.digest(), now)
            .await?
            .ok_or(OperatorError::Unauthenticated("unknown or expired session"))?;
        self.view_of(record).ok_or(OperatorError::Unauthenticated("unreadable session"))
    }

    /// A stored session as requests see it, its roles from the bindings in force; `None` when unreadable.
    fn view_of(&self, record: Record) -> Option<SessionView> {
        let body: SessionBody = serde_json::from_str(&record.body).ok()?;
        Some(SessionView {
            id: record.id,
            roles: self.roles_of(&body.operator),
            operator: body.operator,
            admin_scope: body.admin_scope,
            created_at: record.created_at,
            expires_at: record.expires_at,
        })
    }

    /// Every session in force (for admins: who holds access right now).
    pub async fn list_sessions(&self) -> Result<Vec<SessionView>, OperatorError> {
        let records = self.store.list_sessions(self.clock.now(), 10_000).await?;
        Ok(records.into_iter().filter_map(|record| self.view_of(record)).collect())
    }

    /// Ends anyone's session by its id (an admin cutting access at once).
    pub async fn end_session_by_id(&self, id: &str) -> Result<(), OperatorError> {
        if self.store.delete_session(id).await? {
            Ok(())
        } else {
            Err(OperatorError::NotFound(format!("session {id:?}")))
        }
    }

    /// Ends a session (sign-out).
    pub async fn end_session(&self, session: &SessionView) -> Result<(), OperatorError> {
        self.store.delete_session(&session.id).await?;
        Ok(())
    }
}
