//! The users statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::{BACKEND, BEGIN_WRITE, Db, SORTED_AT_MOST, This, WALK_BUDGET};
use super::{found, insert_audit, insert_user, like_escape};
use crate::users::membership_columns;
use crate::users::user_columns;

#[async_trait::async_trait]
impl crate::UserStore for This {
    async fn create_user(
        &self,
        marketplace_id: i64,
        user: &ferry_domain::NewUser,
    ) -> crate::Result<i64> {
        insert_user(&self.pool, marketplace_id, user, None).await
    }

    async fn user_by_email(
        &self,
        marketplace_id: i64,
        email: &ferry_domain::Email,
    ) -> crate::Result<Option<crate::User>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users
             WHERE marketplace_id = $1 AND email = $2"
        ))
        .bind(marketplace_id)
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn count_users(&self, marketplace_id: i64) -> crate::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE marketplace_id = $1")
                .bind(marketplace_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn set_membership(
        &self,
        marketplace_id: i64,
        user: ferry_domain::UserId,
        company: ferry_domain::CompanyId,
        roles: ferry_domain::CompanyRoles,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "INSERT INTO memberships (user_id, company_id, company_admin, billing_admin,
                sales_support, restricted_sales_support)
             SELECT u.id, c.id, $4, $5, $6, $7
             FROM users u JOIN companies c ON c.marketplace_id = u.marketplace_id
             WHERE u.marketplace_id = $1 AND u.id = $2 AND c.id = $3
             ON CONFLICT (user_id, company_id) DO UPDATE SET
                import_hash = NULL,
                company_admin = excluded.company_admin,
                billing_admin = excluded.billing_admin,
                sales_support = excluded.sales_support,
                restricted_sales_support = excluded.restricted_sales_support",
        )
        .bind(marketplace_id)
        .bind(user.0)
        .bind(company.0)
        .bind(roles.company_admin)
        .bind(roles.billing_admin)
        .bind(roles.sales_support)
        .bind(roles.restricted_sales_support)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "user or company")
    }

    async fn memberships_of_company(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> crate::Result<Vec<crate::Membership>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            membership_columns!(),
            " WHERE c.marketplace_id = $1 AND c.id = $2
             ORDER BY u.email"
        ))
        .bind(marketplace_id)
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn memberships_of_user(
        &self,
        marketplace_id: i64,
        user_id: i64,
    ) -> crate::Result<Vec<crate::Membership>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            membership_columns!(),
            " WHERE u.marketplace_id = $1 AND u.id = $2
             ORDER BY lower(c.name)"
        ))
        .bind(marketplace_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn users(
        &self,
        marketplace_id: i64,
        query: &crate::UserQuery,
    ) -> crate::Result<Vec<crate::User>> {
        let head = concat!("SELECT ", user_columns!(), " FROM users");
        let search = UserSearch::of(query);
        let page = |search| {
            let mut sql = user_page_sql(head, marketplace_id, query, search, Shape::Page);
            async move { sql.build_query_as().fetch_all(&self.pool).await }
        };
        let mut rows: Vec<crate::User> = match search {
            // Up to `SORTED_AT_MOST` hits of the trigram index are sorted at once. A term with
            // more is frequent, and usually fills a page among the next `WALK_BUDGET` users in
            // e-mail order, tested one by one; only when it does not are all its hits sorted.
            Some(UserSearch::Contains(term)) => {
                let mut hits = user_page_sql(
                    "SELECT id FROM users",
                    marketplace_id,
                    query,
                    Some(UserSearch::Contains(term.clone())),
                    Shape::Ids {
                        at_most: SORTED_AT_MOST + 1,
                    },
                );
                let hits: Vec<i64> = hits.build_query_scalar().fetch_all(&self.pool).await?;
                let mut walked = None;
                if hits.len() > SORTED_AT_MOST as usize {
                    let one = crate::UserQuery {
                        limit: 1,
                        ..query.clone()
                    };
                    let mut bound = user_page_sql(
                        "SELECT email FROM users",
                        marketplace_id,
                        &one,
                        None,
                        Shape::Page,
                    );
                    bound.push(" OFFSET ").push_bind(WALK_BUDGET - 1);
                    let until: Option<String> = bound
                        .build_query_scalar()
                        .fetch_optional(&self.pool)
                        .await?;
                    let complete = until.is_none();
                    let rows = page(Some(UserSearch::Walk {
                        term: term.clone(),
                        until,
                    }))
                    .await?;
                    if complete || rows.len() >= usize::try_from(query.limit).unwrap_or(0) {
                        walked = Some(rows);
                    }
                }
                match walked {
                    Some(rows) => rows,
                    None => page(Some(UserSearch::Contains(term))).await?,
                }
            }
            other => page(other).await?,
        };
        if query.before.is_some() {
            rows.reverse();
        }
        Ok(rows)
    }

    async fn count_matching_users(
        &self,
        marketplace_id: i64,
        query: &crate::UserQuery,
        cap: i64,
    ) -> crate::Result<crate::Total> {
        let shape = Shape::Ids { at_most: cap + 1 };
        let mut sql = user_page_sql(
            "SELECT id FROM users",
            marketplace_id,
            query,
            UserSearch::of(query),
            shape,
        );
        let ids: Vec<i64> = sql.build_query_scalar().fetch_all(&self.pool).await?;
        Ok(crate::Total::of(ids.len(), cap))
    }

    async fn user(&self, marketplace_id: i64, id: i64) -> crate::Result<Option<crate::User>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE marketplace_id = $1 AND id = $2"
        ))
        .bind(marketplace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn update_user(
        &self,
        marketplace_id: i64,
        id: i64,
        u: &ferry_domain::NewUser,
        audit: &crate::NewAuditEntry,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let update = sqlx::query(
            "UPDATE users SET external_id = $3, email = $4, first_name = $5, last_name = $6,
                locale = $7, phone = $8, allow_login = $9, custom_attributes = $10,
                import_hash = NULL, updated_at = $11
             WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(id);
        let done = super::bind_user_profile(update, u)
            .bind(sqlx::types::Json(&u.custom_attributes))
            .bind(crate::now().millis())
            .execute(&mut *tx)
            .await?;
        found(done.rows_affected(), "user")?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_user_status(
        &self,
        marketplace_id: i64,
        id: i64,
        status: ferry_domain::UserStatus,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let done = sqlx::query(
            "UPDATE users SET status = $3, updated_at = $4 WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(id)
        .bind(status.as_str())
        .bind(crate::now().millis())
        .execute(&mut *tx)
        .await?;
        found(done.rows_affected(), "user")?;
        if status == ferry_domain::UserStatus::Suspended {
            sqlx::query("DELETE FROM sessions WHERE subject_kind = 'user' AND subject_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How a user search matches.
enum UserSearch {
    /// A term of one or two characters: tested on each user in e-mail order (no index holds
    /// pieces this short).
    Short(String),
    /// Any part of the e-mail address, name or external id, through the trigram index.
    Contains(String),
    /// The same test made on each user in e-mail order (for a frequent term), up to the
    /// address `until` when given.
    Walk { term: String, until: Option<String> },
}

impl UserSearch {
    fn of(query: &crate::UserQuery) -> Option<UserSearch> {
        let term = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())?
            .to_lowercase();
        Some(if term.chars().count() < 3 {
            UserSearch::Short(term)
        } else {
            UserSearch::Contains(term)
        })
    }
}

/// What a statement of `user_page_sql` reads: a page after or before its key, or the ids of
/// up to `at_most` matches, in no order, to count them.
#[derive(Clone, Copy)]
enum Shape {
    Page,
    Ids { at_most: i64 },
}

/// The statement of a page of users, after `head` (`SELECT … FROM users`).
fn user_page_sql(
    head: &str,
    marketplace_id: i64,
    query: &crate::UserQuery,
    search: Option<UserSearch>,
    shape: Shape,
) -> sqlx::QueryBuilder<Db> {
    let page = matches!(shape, Shape::Page);
    // A page before a key is read backwards from it; the caller puts it in e-mail order.
    let order = if page && query.before.is_some() {
        " ORDER BY email DESC"
    } else {
        " ORDER BY email"
    };
    let select = head.strip_suffix(" FROM users").unwrap_or(head);
    let mut sql = sqlx::QueryBuilder::new(select);
    match (&search, BACKEND) {
        (Some(UserSearch::Contains(term)), crate::Backend::Sqlite) => {
            // The matches lead (CROSS JOIN keeps them first) and are then sorted. A quoted
            // phrase of the trigram index matches any substring.
            sql.push(" FROM (SELECT rowid AS hit FROM users_search WHERE users_search MATCH ")
                .push_bind(format!("\"{}\"", term.replace('"', "\"\"")))
                .push(") AS hits CROSS JOIN users ON users.id = hits.hit");
        }
        _ => {
            sql.push(" FROM users");
        }
    }
    sql.push(" WHERE marketplace_id = ")
        .push_bind(marketplace_id);
    match &search {
        Some(UserSearch::Short(term)) => push_contains(&mut sql, term),
        Some(UserSearch::Walk { term, until }) => {
            push_contains(&mut sql, term);
            if let Some(until) = until {
                let within = if query.before.is_some() {
                    " AND email >= "
                } else {
                    " AND email <= "
                };
                sql.push(within).push_bind(until.clone());
            }
        }
        Some(UserSearch::Contains(term)) if BACKEND == crate::Backend::Postgres => {
            push_contains(&mut sql, term);
        }
        _ => {}
    }
    if let Some(status) = query.status {
        sql.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(origin) = &query.origin {
        sql.push(" AND origin_kind = ").push_bind(origin.clone());
    }
    match query.invited {
        Some(false) => sql.push(" AND status = 'created'"),
        Some(true) => sql.push(" AND status IN ('invited', 'active')"),
        None => &mut sql,
    };
    if let Some(company) = query.company_id {
        sql.push(" AND id IN (SELECT m.user_id FROM memberships m WHERE m.company_id = ")
            .push_bind(company)
            .push(")");
    }
    match (&query.after, &query.before) {
        (Some(after), _) if page => {
            sql.push(" AND email > ").push_bind(after.clone());
        }
        (None, Some(before)) if page => {
            sql.push(" AND email < ").push_bind(before.clone());
        }
        _ => {}
    }
    match shape {
        Shape::Ids { at_most } => sql.push(" LIMIT ").push_bind(at_most),
        Shape::Page => sql.push(order).push(" LIMIT ").push_bind(query.limit),
    };
    sql
}

/// `AND` any part of the e-mail address, name or external id holds `term`: the expression of
/// PostgreSQL's trigram index.
fn push_contains(sql: &mut sqlx::QueryBuilder<Db>, term: &str) {
    sql.push(
        " AND lower(email || ' ' || coalesce(first_name, '') || ' ' || \
         coalesce(last_name, '') || ' ' || coalesce(external_id, '')) LIKE ",
    )
    .push_bind(format!("%{}%", like_escape(term)))
    .push(" ESCAPE '\\'");
}
