//! The companies statements, the same for both backends: compiled once into `crate::sqlite` and
//! once into `crate::postgres` (see `statements.rs`).

use super::{BACKEND, BEGIN_WRITE, Db, Query, SORTED_AT_MOST, This, WALK_BUDGET};
use super::{found, insert_audit, inserted_ids, like_escape, prefix_end};
use crate::companies::company_columns;

#[async_trait::async_trait]
impl crate::CompanyStore for This {
    async fn create_company(
        &self,
        marketplace_id: i64,
        c: &ferry_domain::NewCompany,
    ) -> crate::Result<i64> {
        insert_company(&self.pool, marketplace_id, c).await
    }

    async fn insert_companies(
        &self,
        marketplace_id: i64,
        companies: &[ferry_domain::NewCompany],
    ) -> crate::Result<u64> {
        let now = crate::now().millis();
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let rows: Vec<CompanyRow> = companies
            .iter()
            .map(|company| CompanyRow {
                marketplace_id,
                company,
                responsible_user_id: None,
            })
            .collect();
        let inserted = insert_company_rows(&mut tx, &rows, now).await?.len() as u64;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn company(&self, marketplace_id: i64, id: i64) -> crate::Result<Option<crate::Company>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            company_columns!(),
            " FROM companies
             WHERE marketplace_id = $1 AND id = $2"
        ))
        .bind(marketplace_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn company_by_external_id(
        &self,
        marketplace_id: i64,
        external_id: &str,
    ) -> crate::Result<Option<crate::Company>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            company_columns!(),
            " FROM companies
             WHERE marketplace_id = $1 AND external_id = $2"
        ))
        .bind(marketplace_id)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn count_companies(&self, marketplace_id: i64) -> crate::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM companies WHERE marketplace_id = $1")
                .bind(marketplace_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn set_contact(
        &self,
        marketplace_id: i64,
        company_id: i64,
        contact: &ferry_domain::Contact,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "INSERT INTO contacts (company_id, kind, first_name, last_name, email, phone)
             SELECT id, $3, $4, $5, $6, $7 FROM companies
             WHERE id = $2 AND marketplace_id = $1
             ON CONFLICT (company_id, kind) DO UPDATE SET
                first_name = excluded.first_name, last_name = excluded.last_name,
                email = excluded.email, phone = excluded.phone",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .bind(contact.kind.as_str())
        .bind(&contact.first_name)
        .bind(&contact.last_name)
        .bind(contact.email.as_ref().map(|e| e.as_str()))
        .bind(&contact.phone)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "company")
    }

    async fn set_reseller(
        &self,
        marketplace_id: i64,
        company_id: i64,
        reseller_company_id: i64,
    ) -> crate::Result<()> {
        let done = sqlx::query(
            "INSERT INTO reseller_associations (company_id, reseller_company_id)
             SELECT c.id, r.id
             FROM companies c JOIN companies r ON r.marketplace_id = c.marketplace_id
             WHERE c.marketplace_id = $1 AND c.id = $2 AND r.id = $3
             ON CONFLICT (company_id) DO UPDATE SET
                reseller_company_id = excluded.reseller_company_id",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .bind(reseller_company_id)
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "company or reseller company")
    }

    async fn link_tenant(
        &self,
        marketplace_id: i64,
        company_id: i64,
        link: &ferry_domain::TenantLink,
    ) -> crate::Result<()> {
        // The instance may be the marketplace's own or, for a country tenant, its
        // parent's; here it only has to exist, the caller decides which are visible.
        let done = sqlx::query(
            "INSERT INTO tenant_links (marketplace_id, instance_id, company_id, tenant_id,
                domain_prefix, reseller_mpn_id, created_at)
             SELECT c.marketplace_id, i.id, c.id, $4, $5, $6, $7
             FROM companies c, partner_center_instances i
             WHERE c.marketplace_id = $1 AND c.id = $2 AND i.id = $3",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .bind(link.instance_id)
        .bind(link.tenant_id.to_ascii_lowercase())
        .bind(
            link.domain_prefix
                .as_deref()
                .map(ferry_domain::domain_prefix),
        )
        .bind(&link.reseller_mpn_id)
        .bind(crate::now().millis())
        .execute(&self.pool)
        .await?;
        found(done.rows_affected(), "company or instance")
    }

    async fn companies(
        &self,
        marketplace_id: i64,
        query: &crate::CompanyQuery,
    ) -> crate::Result<Vec<crate::Company>> {
        let Some(term) = query.search_term() else {
            let mut rows = company_page(&self.pool, marketplace_id, query, None).await?;
            if query.before.is_some() {
                rows.reverse();
            }
            return Ok(rows);
        };
        // A search is a few index lookups merged in name order; one query with OR would
        // read every row of a large marketplace.
        let mut rows = Vec::new();
        for branch in branches(term) {
            let found = match branch {
                CompanySearch::Contains(term) => {
                    contains_page(&self.pool, marketplace_id, query, term).await?
                }
                other => company_page(&self.pool, marketplace_id, query, Some(&other)).await?,
            };
            rows.extend(found);
        }
        rows.sort_by_key(|c: &crate::Company| (c.key().name, c.id));
        rows.dedup_by_key(|c| c.id);
        let limit = usize::try_from(query.limit).unwrap_or(0);
        if query.before.is_some() {
            rows.drain(..rows.len().saturating_sub(limit));
        } else {
            rows.truncate(limit);
        }
        Ok(rows)
    }

    async fn count_matching_companies(
        &self,
        marketplace_id: i64,
        query: &crate::CompanyQuery,
        cap: i64,
    ) -> crate::Result<crate::Total> {
        let searches = match query.search_term() {
            None => vec![None],
            Some(term) => {
                let mut all = branches(term);
                // From three characters the contains branch holds every other one.
                if let Some(at) = all
                    .iter()
                    .position(|b| matches!(b, CompanySearch::Contains(_)))
                {
                    all.drain(..at);
                }
                all.into_iter().map(Some).collect()
            }
        };
        let mut ids = std::collections::HashSet::new();
        for search in searches {
            let mut sql = company_page_sql(
                "SELECT id FROM companies",
                marketplace_id,
                query,
                search.as_ref(),
                Shape::Ids { at_most: cap + 1 },
            );
            let found: Vec<i64> = sql.build_query_scalar().fetch_all(&self.pool).await?;
            ids.extend(found);
        }
        Ok(crate::Total::of(ids.len(), cap))
    }

    async fn update_company(
        &self,
        marketplace_id: i64,
        id: i64,
        c: &ferry_domain::NewCompany,
        audit: &crate::NewAuditEntry,
    ) -> crate::Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let update = sqlx::query(
            "UPDATE companies SET external_id = $3, name = $4, street1 = $5, street2 = $6,
                city = $7, state = $8, zip = $9, country = $10, billing_street1 = $11,
                billing_street2 = $12, billing_city = $13, billing_state = $14,
                billing_zip = $15, billing_country = $16, phone = $17, email = $18,
                website = $19, allow_login = $20, status = $21, custom_attributes = $22,
                import_hash = NULL,
                updated_at = $23
             WHERE marketplace_id = $1 AND id = $2",
        )
        .bind(marketplace_id)
        .bind(id);
        let done = bind_company(update, c)
            .bind(crate::now().millis())
            .execute(&mut *tx)
            .await?;
        found(done.rows_affected(), "company")?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn contacts(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> crate::Result<Vec<crate::ContactRow>> {
        Ok(sqlx::query_as(
            "SELECT k.kind, k.first_name, k.last_name, k.email, k.phone
             FROM contacts k JOIN companies c ON c.id = k.company_id
             WHERE c.marketplace_id = $1 AND c.id = $2 ORDER BY k.kind DESC",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn tenant_links(
        &self,
        marketplace_id: i64,
        company_id: i64,
    ) -> crate::Result<Vec<crate::TenantLinkRow>> {
        Ok(sqlx::query_as(
            "SELECT t.instance_id, i.name AS instance_name, t.tenant_id, t.domain_prefix,
                t.reseller_mpn_id
             FROM tenant_links t JOIN partner_center_instances i ON i.id = t.instance_id
             WHERE t.marketplace_id = $1 AND t.company_id = $2 ORDER BY i.name",
        )
        .bind(marketplace_id)
        .bind(company_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// One way a company search matches.
enum CompanySearch {
    NamePrefix(String),
    ExternalId(String),
    Email(String),
    /// Any part of the name, external id, e-mail or website (three characters or more),
    /// through the trigram index.
    Contains(String),
    /// The same test made on each company in name order (for a frequent term), up to the key
    /// `until` when given.
    Walk {
        term: String,
        until: Option<crate::CompanyKey>,
    },
}

/// The branches of a search: the name starts with the term, the whole external id or e-mail
/// address is the term, and, from three characters, any part holds it.
fn branches(term: &str) -> Vec<CompanySearch> {
    let mut branches = vec![
        CompanySearch::NamePrefix(term.to_lowercase()),
        CompanySearch::ExternalId(term.to_owned()),
        CompanySearch::Email(term.to_lowercase()),
    ];
    if term.chars().count() >= 3 {
        branches.push(CompanySearch::Contains(term.to_lowercase()));
    }
    branches
}

/// What a statement of `company_page_sql` reads: a page after or before its key, or the ids
/// of up to `at_most` matches, in no order, to count them.
#[derive(Clone, Copy)]
enum Shape {
    Page,
    Ids { at_most: i64 },
}

/// Writes a new company and answers its id.
pub(super) async fn insert_company<'e, E>(
    executor: E,
    marketplace_id: i64,
    c: &ferry_domain::NewCompany,
) -> crate::Result<i64>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let insert = sqlx::query(
        "INSERT INTO companies (marketplace_id, external_id, name,
            street1, street2, city, state, zip, country,
            billing_street1, billing_street2, billing_city, billing_state,
            billing_zip, billing_country, phone, email, website, allow_login, status,
            custom_attributes, origin_kind, origin_ref, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
            $16, $17, $18, $19, $20, $21, $22, $23, $24, $24)
         RETURNING id",
    )
    .bind(marketplace_id);
    let row = bind_company(insert, c)
        .bind(c.origin.kind())
        .bind(c.origin.reference())
        .bind(crate::now().millis())
        .fetch_one(executor)
        .await?;
    Ok(sqlx::Row::try_get(&row, 0)?)
}

/// New companies written in one statement: 26 parameters a row stay well under both
/// backends' limits.
pub(super) const COMPANIES_AT_ONCE: usize = 500;

/// A new company, the marketplace it goes into and its responsible user.
pub(super) struct CompanyRow<'a> {
    pub marketplace_id: i64,
    pub company: &'a ferry_domain::NewCompany,
    pub responsible_user_id: Option<i64>,
}

/// Writes new companies, a statement per [`COMPANIES_AT_ONCE`], and answers their ids in the
/// order of `rows`.
pub(super) async fn insert_company_rows(
    tx: &mut <Db as sqlx::Database>::Connection,
    rows: &[CompanyRow<'_>],
    now: i64,
) -> crate::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(COMPANIES_AT_ONCE) {
        let mut sql = sqlx::QueryBuilder::new(
            "INSERT INTO companies (marketplace_id, external_id, name, street1, street2,
                city, state, zip, country, billing_street1, billing_street2,
                billing_city, billing_state, billing_zip, billing_country, phone,
                email, website, allow_login, status, custom_attributes, origin_kind,
                origin_ref, created_at, updated_at, responsible_user_id) ",
        );
        sql.push_values(chunk, |mut row, r| {
            let c = r.company;
            let billing = c.billing_address.clone().unwrap_or_default();
            row.push_bind(r.marketplace_id)
                .push_bind(c.external_id.clone())
                .push_bind(c.name.clone())
                .push_bind(c.address.street1.clone())
                .push_bind(c.address.street2.clone())
                .push_bind(c.address.city.clone())
                .push_bind(c.address.state.clone())
                .push_bind(c.address.zip.clone())
                .push_bind(c.address.country.map(|x| x.to_string()))
                .push_bind(billing.street1)
                .push_bind(billing.street2)
                .push_bind(billing.city)
                .push_bind(billing.state)
                .push_bind(billing.zip)
                .push_bind(billing.country.map(|x| x.to_string()))
                .push_bind(c.phone.clone())
                .push_bind(c.email.as_ref().map(|e| e.as_str().to_owned()))
                .push_bind(c.website.clone())
                .push_bind(c.allow_login)
                .push_bind(c.status.as_str())
                .push_bind(sqlx::types::Json(c.custom_attributes.clone()))
                .push_bind(c.origin.kind())
                .push_bind(c.origin.reference())
                .push_bind(now)
                .push_bind(now)
                .push_bind(r.responsible_user_id);
        });
        ids.extend(inserted_ids(sql, tx).await?);
    }
    Ok(ids)
}

/// Binds a company's own fields, `external_id` to `custom_attributes`, in the order both the
/// insert and the update name them.
fn bind_company<'q>(query: Query<'q>, c: &ferry_domain::NewCompany) -> Query<'q> {
    let billing = c.billing_address.clone().unwrap_or_default();
    query
        .bind(&c.external_id)
        .bind(&c.name)
        .bind(&c.address.street1)
        .bind(&c.address.street2)
        .bind(&c.address.city)
        .bind(&c.address.state)
        .bind(&c.address.zip)
        .bind(c.address.country.map(|x| x.to_string()))
        .bind(&billing.street1)
        .bind(&billing.street2)
        .bind(&billing.city)
        .bind(&billing.state)
        .bind(&billing.zip)
        .bind(billing.country.map(|x| x.to_string()))
        .bind(&c.phone)
        .bind(c.email.as_ref().map(|e| e.as_str()))
        .bind(&c.website)
        .bind(c.allow_login)
        .bind(c.status.as_str())
        .bind(sqlx::types::Json(&c.custom_attributes))
}

/// One page of companies in name order, optionally narrowed by one search branch.
async fn company_page(
    pool: &sqlx::Pool<Db>,
    marketplace_id: i64,
    query: &crate::CompanyQuery,
    search: Option<&CompanySearch>,
) -> crate::Result<Vec<crate::Company>> {
    let head = concat!("SELECT ", company_columns!(), " FROM companies");
    let mut sql = company_page_sql(head, marketplace_id, query, search, Shape::Page);
    Ok(sql.build_query_as().fetch_all(pool).await?)
}

/// A page of companies holding `term` anywhere. The trigram index finds the hits, and up to
/// `SORTED_AT_MOST` of them are sorted at once. A term with more is frequent, and usually fills
/// a page among the next `WALK_BUDGET` companies in name order, tested one by one; only when
/// it does not (its companies are further on) are all its hits sorted.
async fn contains_page(
    pool: &sqlx::Pool<Db>,
    marketplace_id: i64,
    query: &crate::CompanyQuery,
    term: String,
) -> crate::Result<Vec<crate::Company>> {
    let contains = CompanySearch::Contains(term.clone());
    let mut hits = company_page_sql(
        "SELECT id FROM companies",
        marketplace_id,
        query,
        Some(&contains),
        Shape::Ids {
            at_most: SORTED_AT_MOST + 1,
        },
    );
    let hits: Vec<i64> = hits.build_query_scalar().fetch_all(pool).await?;
    if hits.len() > SORTED_AT_MOST as usize {
        // Where the walk stops: the key `WALK_BUDGET` companies on, read from the name index.
        let head = "SELECT lower(name) AS name, id FROM companies";
        let one = crate::CompanyQuery {
            limit: 1,
            ..query.clone()
        };
        let mut bound = company_page_sql(head, marketplace_id, &one, None, Shape::Page);
        bound.push(" OFFSET ").push_bind(WALK_BUDGET - 1);
        let until: Option<(String, i64)> = bound.build_query_as().fetch_optional(pool).await?;
        let until = until.map(|(name, id)| crate::CompanyKey { name, id });
        let complete = until.is_none();
        let walk = CompanySearch::Walk { term, until };
        let walked = company_page(pool, marketplace_id, query, Some(&walk)).await?;
        if complete || walked.len() >= usize::try_from(query.limit).unwrap_or(0) {
            return Ok(walked);
        }
    }
    company_page(pool, marketplace_id, query, Some(&contains)).await
}

/// The statement of a page of companies, after `head` (the select, or the plan of it).
fn company_page_sql(
    head: &str,
    marketplace_id: i64,
    query: &crate::CompanyQuery,
    search: Option<&CompanySearch>,
    shape: Shape,
) -> sqlx::QueryBuilder<Db> {
    let page = matches!(shape, Shape::Page);
    // A page before a key is read backwards from it; the caller puts it in name order.
    let order = if page && query.before.is_some() {
        " ORDER BY lower(name) DESC, id DESC"
    } else {
        " ORDER BY lower(name), id"
    };
    let select = head.strip_suffix(" FROM companies").unwrap_or(head);
    let mut sql = sqlx::QueryBuilder::new(select);
    match (search, BACKEND) {
        (Some(CompanySearch::Contains(term)), crate::Backend::Sqlite) => {
            // The matches lead (CROSS JOIN keeps them first) and are then sorted: walking the
            // name index and testing each row would read every company to find a few. A
            // quoted phrase of the trigram index matches any substring.
            sql.push(
                " FROM (SELECT rowid AS hit FROM companies_search WHERE companies_search MATCH ",
            )
            .push_bind(format!("\"{}\"", term.replace('"', "\"\"")))
            .push(") AS hits CROSS JOIN companies ON companies.id = hits.hit");
        }
        _ => {
            sql.push(" FROM companies");
        }
    }
    sql.push(" WHERE marketplace_id = ")
        .push_bind(marketplace_id);
    let exact = matches!(
        search,
        Some(CompanySearch::ExternalId(_) | CompanySearch::Email(_))
    );
    match search {
        None => {}
        Some(CompanySearch::NamePrefix(term)) => {
            // The range narrows through the index; LIKE keeps the match exact whatever
            // the database's collation.
            sql.push(" AND lower(name) >= ")
                .push_bind(term.clone())
                .push(" AND lower(name) < ")
                .push_bind(prefix_end(term))
                .push(" AND lower(name) LIKE ")
                .push_bind(format!("{}%", like_escape(term)))
                .push(" ESCAPE '\\'");
        }
        Some(CompanySearch::ExternalId(id)) => {
            sql.push(" AND external_id = ").push_bind(id.clone());
        }
        Some(CompanySearch::Email(email)) => {
            sql.push(" AND lower(email) = ").push_bind(email.clone());
        }
        Some(CompanySearch::Contains(term)) if BACKEND == crate::Backend::Postgres => {
            push_contains(&mut sql, term);
        }
        Some(CompanySearch::Walk { term, until }) => {
            push_contains(&mut sql, term);
            if let Some(until) = until {
                let (within, beyond) = if query.before.is_some() {
                    (">=", ">")
                } else {
                    ("<=", "<")
                };
                sql.push(format!(" AND lower(name) {within} "))
                    .push_bind(until.name.clone())
                    .push(format!(" AND (lower(name) {beyond} "))
                    .push_bind(until.name.clone())
                    .push(format!(" OR id {within} "))
                    .push_bind(until.id)
                    .push(")");
            }
        }
        // SQLite's is the join above.
        Some(CompanySearch::Contains(_)) => {}
    }
    if let Some(status) = query.status {
        sql.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(origin) = &query.origin_kind {
        sql.push(" AND origin_kind = ").push_bind(origin.clone());
    }
    // Spelled out rather than as a row value, so SQLite seeks the index too.
    match (&query.after, &query.before) {
        (Some(after), _) if page => {
            sql.push(" AND lower(name) >= ")
                .push_bind(after.name.clone())
                .push(" AND (lower(name) > ")
                .push_bind(after.name.clone())
                .push(" OR id > ")
                .push_bind(after.id)
                .push(")");
        }
        (None, Some(before)) if page => {
            sql.push(" AND lower(name) <= ")
                .push_bind(before.name.clone())
                .push(" AND (lower(name) < ")
                .push_bind(before.name.clone())
                .push(" OR id < ")
                .push_bind(before.id)
                .push(")");
        }
        _ => {}
    }
    match shape {
        Shape::Ids { at_most } => {
            sql.push(" LIMIT ").push_bind(at_most);
        }
        // An exact match finds a row or two, sorted by the caller; asking the database
        // to sort them would tempt SQLite to walk the name index instead.
        Shape::Page if exact => {
            sql.push(" LIMIT ").push_bind(query.limit);
        }
        Shape::Page => {
            sql.push(order).push(" LIMIT ").push_bind(query.limit);
        }
    }
    sql
}

/// `AND` any part of the name, external id, e-mail or website holds `term`: the expression of
/// PostgreSQL's trigram index. (SQLite's `lower` folds ASCII letters only, as its name index
/// does.)
fn push_contains(sql: &mut sqlx::QueryBuilder<Db>, term: &str) {
    sql.push(
        " AND lower(name || ' ' || coalesce(external_id, '') || ' ' || \
         coalesce(email, '') || ' ' || coalesce(website, '')) LIKE ",
    )
    .push_bind(format!("%{}%", like_escape(term)))
    .push(" ESCAPE '\\'");
}

#[cfg(test)]
mod tests {
    use ferry_domain::CompanyStatus;
    use sqlx::Row;

    use super::super::{BACKEND, This};
    use super::company_page_sql;
    use crate::{Backend, CompanyQuery, Store};

    /// The status filter reads its own index, in name order, instead of walking the name
    /// index and passing over the companies of other statuses.
    #[tokio::test]
    async fn the_status_filter_reads_the_status_index() {
        let database = super::super::test_database().await;
        let store = This::connect(database.url(), crate::files::Files::Database)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let query = CompanyQuery {
            search: None,
            status: Some(CompanyStatus::Suspended),
            origin_kind: None,
            after: None,
            before: None,
            limit: 50,
        };
        let mut connection = store.pool.acquire().await.expect("connection");
        let (head, detail) = match BACKEND {
            Backend::Sqlite => ("EXPLAIN QUERY PLAN SELECT id FROM companies", 3),
            Backend::Postgres => {
                // An empty table is read whole whatever its indexes: ask for the plan a
                // large one gets.
                sqlx::query("SET enable_seqscan = off")
                    .execute(&mut *connection)
                    .await
                    .expect("set");
                ("EXPLAIN SELECT id FROM companies", 0)
            }
        };
        let plan: Vec<String> = company_page_sql(head, 1, &query, None, super::Shape::Page)
            .build()
            .fetch_all(&mut *connection)
            .await
            .expect("plan")
            .iter()
            .map(|row| row.get(detail))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("companies_status"), "{plan}");
        assert!(!plan.to_lowercase().contains("sort"), "no sort: {plan}");
    }
}
