//! The statements SQLite and PostgreSQL share, written once and stamped out for each backend by
//! [`impl_store!`]. Parameters are `$1, $2, …`, which both understand; times are integers.

/// Implements [`crate::Store`] for a backend's store type. The dialect arguments carry what the
/// two backends do differently:
/// - `begin_write`: the statement that opens a transaction which will write;
/// - `skip_locked`: the locking clause that lets concurrent workers pass over a claimed job.
macro_rules! impl_store {
    (
        store: $store:ty,
        backend: $backend:expr,
        migrator: $migrator:expr,
        begin_write: $begin_write:literal,
        skip_locked: $skip_locked:literal $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            async fn migrate(&self) -> $crate::Result<usize> {
                let before = self.applied_migrations().await?;
                $migrator.run(&self.pool).await?;
                Ok(self.applied_migrations().await? - before)
            }

            async fn pending_migrations(&self) -> $crate::Result<usize> {
                let applied: Vec<(i64, Vec<u8>)> = match sqlx::query_as(
                    "SELECT version, checksum FROM _sqlx_migrations WHERE success",
                )
                .fetch_all(&self.pool)
                .await
                {
                    Ok(rows) => rows,
                    // No migrations table yet: nothing is applied.
                    Err(sqlx::Error::Database(_)) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                let mut pending = 0;
                for migration in $migrator.iter().filter(|m| m.migration_type.is_up_migration()) {
                    match applied.iter().find(|(v, _)| *v == migration.version) {
                        Some((_, checksum)) if checksum.as_slice() != &*migration.checksum => {
                            return Err(sqlx::migrate::MigrateError::VersionMismatch(
                                migration.version,
                            )
                            .into());
                        }
                        Some(_) => {}
                        None => pending += 1,
                    }
                }
                Ok(pending)
            }

            async fn create_marketplace(
                &self,
                new: &$crate::NewMarketplace,
            ) -> $crate::Result<$crate::Marketplace> {
                Ok(sqlx::query_as(
                    "INSERT INTO marketplaces (slug, name, kind, parent_id, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     RETURNING id, slug, name, kind, parent_id, created_at",
                )
                .bind(new.slug.as_str())
                .bind(&new.name)
                .bind(new.kind.as_str())
                .bind(new.parent_id)
                .bind($crate::now().millis())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn marketplace_by_slug(
                &self,
                slug: &str,
            ) -> $crate::Result<Option<$crate::Marketplace>> {
                Ok(sqlx::query_as(
                    "SELECT id, slug, name, kind, parent_id, created_at
                     FROM marketplaces WHERE slug = $1",
                )
                .bind(slug)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn marketplace(&self, id: i64) -> $crate::Result<Option<$crate::Marketplace>> {
                Ok(sqlx::query_as(
                    "SELECT id, slug, name, kind, parent_id, created_at
                     FROM marketplaces WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn marketplaces(&self) -> $crate::Result<Vec<$crate::Marketplace>> {
                Ok(sqlx::query_as(
                    "SELECT id, slug, name, kind, parent_id, created_at
                     FROM marketplaces ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn create_platform_admin(
                &self,
                email: &ferry_domain::Email,
                password_hash: &str,
            ) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO platform_admins (email, password_hash, created_at)
                     VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(email.as_str())
                .bind(password_hash)
                .bind($crate::now().millis())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn set_password(
                &self,
                marketplace_id: i64,
                user_id: i64,
                password_hash: Option<&str>,
            ) -> $crate::Result<()> {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $3, updated_at = $4
                     WHERE id = $2 AND marketplace_id = $1",
                )
                .bind(marketplace_id)
                .bind(user_id)
                .bind(password_hash)
                .bind($crate::now().millis())
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "user")
            }

            async fn grant_role(
                &self,
                marketplace_id: i64,
                user_id: i64,
                role: ferry_domain::Role,
            ) -> $crate::Result<()> {
                let done = sqlx::query(
                    "INSERT INTO user_roles (user_id, role)
                     SELECT id, $3 FROM users WHERE id = $2 AND marketplace_id = $1
                     ON CONFLICT (user_id, role) DO NOTHING",
                )
                .bind(marketplace_id)
                .bind(user_id)
                .bind(role.as_str())
                .execute(&self.pool)
                .await?;
                // An existing grant counts as done; only a missing user is an error.
                if done.rows_affected() == 0 {
                    let exists: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM users WHERE id = $2 AND marketplace_id = $1",
                    )
                    .bind(marketplace_id)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                    exists.map(|_| ()).ok_or($crate::StoreError::NotFound { what: "user" })
                } else {
                    Ok(())
                }
            }

            async fn create_api_token(
                &self,
                marketplace_id: i64,
                name: &str,
                role: ferry_domain::Role,
                token_hash: &[u8],
            ) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO api_tokens (marketplace_id, name, role, token_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(marketplace_id)
                .bind(name)
                .bind(role.as_str())
                .bind(token_hash)
                .bind($crate::now().millis())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn create_company(
                &self,
                marketplace_id: i64,
                c: &ferry_domain::NewCompany,
            ) -> $crate::Result<i64> {
                let billing = c.billing_address.clone().unwrap_or_default();
                let now = $crate::now().millis();
                Ok(sqlx::query_scalar(
                    "INSERT INTO companies (marketplace_id, external_id, name,
                        street1, street2, city, state, zip, country,
                        billing_street1, billing_street2, billing_city, billing_state,
                        billing_zip, billing_country, phone, email, website, allow_login, status,
                        custom_attributes, origin_kind, origin_ref, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                        $16, $17, $18, $19, $20, $21, $22, $23, $24, $24)
                     RETURNING id",
                )
                .bind(marketplace_id)
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
                .bind(c.origin.kind())
                .bind(c.origin.reference())
                .bind(now)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn company(
                &self,
                marketplace_id: i64,
                id: i64,
            ) -> $crate::Result<Option<$crate::Company>> {
                Ok(sqlx::query_as(
                    "SELECT id, marketplace_id, external_id, name, city, country, email, website,
                        allow_login, status, custom_attributes, origin_kind, origin_ref,
                        created_at, updated_at
                     FROM companies WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn company_by_external_id(
                &self,
                marketplace_id: i64,
                external_id: &str,
            ) -> $crate::Result<Option<$crate::Company>> {
                Ok(sqlx::query_as(
                    "SELECT id, marketplace_id, external_id, name, city, country, email, website,
                        allow_login, status, custom_attributes, origin_kind, origin_ref,
                        created_at, updated_at
                     FROM companies WHERE marketplace_id = $1 AND external_id = $2",
                )
                .bind(marketplace_id)
                .bind(external_id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn count_companies(&self, marketplace_id: i64) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM companies WHERE marketplace_id = $1")
                    .bind(marketplace_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn set_contact(
                &self,
                marketplace_id: i64,
                company_id: i64,
                contact: &ferry_domain::Contact,
            ) -> $crate::Result<()> {
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

            async fn create_user(
                &self,
                marketplace_id: i64,
                user: &ferry_domain::NewUser,
            ) -> $crate::Result<i64> {
                insert_user(&self.pool, marketplace_id, user, None).await
            }

            async fn create_staff(
                &self,
                marketplace_id: i64,
                user: &ferry_domain::NewUser,
                password_hash: &str,
                role: ferry_domain::Role,
            ) -> $crate::Result<i64> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let id = insert_user(&mut *tx, marketplace_id, user, Some(password_hash)).await?;
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                    .bind(id)
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn user_by_email(
                &self,
                marketplace_id: i64,
                email: &ferry_domain::Email,
            ) -> $crate::Result<Option<$crate::User>> {
                Ok(sqlx::query_as(
                    "SELECT id, marketplace_id, external_id, email, first_name, last_name,
                        allow_login, status, origin_kind, origin_ref, created_at
                     FROM users WHERE marketplace_id = $1 AND email = $2",
                )
                .bind(marketplace_id)
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn count_users(&self, marketplace_id: i64) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE marketplace_id = $1")
                    .bind(marketplace_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn set_membership(
                &self,
                marketplace_id: i64,
                user_id: i64,
                company_id: i64,
                roles: ferry_domain::CompanyRoles,
            ) -> $crate::Result<()> {
                let done = sqlx::query(
                    "INSERT INTO memberships (user_id, company_id, company_admin, billing_admin,
                        sales_support, restricted_sales_support)
                     SELECT u.id, c.id, $4, $5, $6, $7
                     FROM users u JOIN companies c ON c.marketplace_id = u.marketplace_id
                     WHERE u.marketplace_id = $1 AND u.id = $2 AND c.id = $3
                     ON CONFLICT (user_id, company_id) DO UPDATE SET
                        company_admin = excluded.company_admin,
                        billing_admin = excluded.billing_admin,
                        sales_support = excluded.sales_support,
                        restricted_sales_support = excluded.restricted_sales_support",
                )
                .bind(marketplace_id)
                .bind(user_id)
                .bind(company_id)
                .bind(roles.company_admin)
                .bind(roles.billing_admin)
                .bind(roles.sales_support)
                .bind(roles.restricted_sales_support)
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "user or company")
            }

            async fn set_reseller(
                &self,
                marketplace_id: i64,
                company_id: i64,
                reseller_company_id: i64,
            ) -> $crate::Result<()> {
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

            async fn create_product(
                &self,
                marketplace_id: i64,
                product: &ferry_domain::NewProduct,
            ) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO products (marketplace_id, name, vendor) VALUES ($1, $2, $3)
                     RETURNING id",
                )
                .bind(marketplace_id)
                .bind(&product.name)
                .bind(&product.vendor)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn create_edition(
                &self,
                marketplace_id: i64,
                e: &ferry_domain::NewEdition,
            ) -> $crate::Result<i64> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO editions (marketplace_id, product_id, code, name,
                        pricing_plan_id, channel_sku, pricing_unit, included_units,
                        billing_cycles, terms, connector, active)
                     SELECT marketplace_id, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
                     FROM products WHERE marketplace_id = $1 AND id = $2
                     RETURNING id",
                )
                .bind(marketplace_id)
                .bind(e.product_id)
                .bind(&e.code)
                .bind(&e.name)
                .bind(&e.pricing_plan_id)
                .bind(&e.channel_sku)
                .bind(e.pricing_unit.as_str())
                .bind(e.included_units)
                .bind(sqlx::types::Json(&e.billing_cycles))
                .bind(sqlx::types::Json(&e.terms))
                .bind(e.connector.as_str())
                .bind(e.active)
                .fetch_optional(&mut *tx)
                .await?;
                let id = id.ok_or($crate::StoreError::NotFound { what: "product" })?;
                for offer in &e.offer_ids {
                    sqlx::query(
                        "INSERT INTO edition_offers (marketplace_id, edition_id, offer_id, active)
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(marketplace_id)
                    .bind(id)
                    .bind(offer.as_str())
                    .bind(e.active)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(id)
            }

            async fn edition_for_offer(
                &self,
                marketplace_id: i64,
                offer: &ferry_domain::OfferId,
            ) -> $crate::Result<Option<i64>> {
                Ok(sqlx::query_scalar(
                    "SELECT edition_id FROM edition_offers
                     WHERE marketplace_id = $1 AND offer_id = $2 AND active",
                )
                .bind(marketplace_id)
                .bind(offer.as_str())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn create_subscription(
                &self,
                marketplace_id: i64,
                s: &ferry_domain::NewSubscription,
            ) -> $crate::Result<i64> {
                // Company, edition and purchaser must all belong to this marketplace.
                let id: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO subscriptions (marketplace_id, external_id, company_id,
                        edition_id, purchased_by, units, start_date, billing_start_date, end_date,
                        billing_cycle, term, auto_renew, status, vendor_subscription_id,
                        custom_attributes, origin_kind, origin_ref, created_at, updated_at)
                     SELECT c.marketplace_id, $2, c.id, e.id, $5, $6, $7, $8, $9, $10, $11, $12,
                        $13, $14, $15, $16, $17, $18, $18
                     FROM companies c JOIN editions e ON e.marketplace_id = c.marketplace_id
                     WHERE c.marketplace_id = $1 AND c.id = $3 AND e.id = $4
                       AND ($5 IS NULL OR EXISTS (
                            SELECT 1 FROM users u WHERE u.id = $5 AND u.marketplace_id = $1))
                     RETURNING id",
                )
                .bind(marketplace_id)
                .bind(&s.external_id)
                .bind(s.company_id)
                .bind(s.edition_id)
                .bind(s.purchased_by)
                .bind(s.units)
                .bind(s.start_date)
                .bind(s.billing_start_date)
                .bind(s.end_date)
                .bind(&s.billing_cycle)
                .bind(&s.term)
                .bind(s.auto_renew)
                .bind(s.status.as_str())
                .bind(&s.vendor_subscription_id)
                .bind(sqlx::types::Json(&s.custom_attributes))
                .bind(s.origin.kind())
                .bind(s.origin.reference())
                .bind($crate::now().millis())
                .fetch_optional(&self.pool)
                .await?;
                id.ok_or($crate::StoreError::NotFound { what: "company, edition or purchaser" })
            }

            async fn assign_seat(
                &self,
                marketplace_id: i64,
                subscription_id: i64,
                user_id: i64,
            ) -> $crate::Result<()> {
                let done = sqlx::query(
                    "INSERT INTO seat_assignments (subscription_id, user_id)
                     SELECT s.id, u.id
                     FROM subscriptions s JOIN users u ON u.marketplace_id = s.marketplace_id
                     WHERE s.marketplace_id = $1 AND s.id = $2 AND u.id = $3",
                )
                .bind(marketplace_id)
                .bind(subscription_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "subscription or user")
            }

            async fn create_instance(
                &self,
                marketplace_id: i64,
                i: &$crate::NewInstance,
            ) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO partner_center_instances (marketplace_id, name, model,
                        partner_tenant_id, application_id, secret_encrypted,
                        refresh_token_encrypted, mpn_id, api_base_url, login_base_url, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                )
                .bind(marketplace_id)
                .bind(&i.name)
                .bind(&i.model)
                .bind(&i.partner_tenant_id)
                .bind(&i.application_id)
                .bind(&i.secret_encrypted)
                .bind(&i.refresh_token_encrypted)
                .bind(&i.mpn_id)
                .bind(&i.api_base_url)
                .bind(&i.login_base_url)
                .bind($crate::now().millis())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn link_tenant(
                &self,
                marketplace_id: i64,
                company_id: i64,
                link: &ferry_domain::TenantLink,
            ) -> $crate::Result<()> {
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
                .bind(&link.domain_prefix)
                .bind(&link.reseller_mpn_id)
                .bind($crate::now().millis())
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "company or instance")
            }

            async fn record_audit(&self, entry: &$crate::NewAuditEntry) -> $crate::Result<()> {
                insert_audit(&self.pool, entry).await
            }

            async fn audit_trail(
                &self,
                entity_type: &str,
                entity_id: i64,
            ) -> $crate::Result<Vec<$crate::AuditEntry>> {
                Ok(sqlx::query_as(
                    "SELECT id, marketplace_id, actor, action, entity_type, entity_id, changes, at
                     FROM audit_log WHERE entity_type = $1 AND entity_id = $2 ORDER BY id",
                )
                .bind(entity_type)
                .bind(entity_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn enqueue_job(&self, job: &$crate::NewJob) -> $crate::Result<i64> {
                let now = $crate::now().millis();
                Ok(sqlx::query_scalar(
                    "INSERT INTO jobs (marketplace_id, kind, payload, state, max_attempts,
                        run_at, created_at)
                     VALUES ($1, $2, $3, 'queued', $4, $5, $5) RETURNING id",
                )
                .bind(job.marketplace_id)
                .bind(&job.kind)
                .bind(sqlx::types::Json(&job.payload))
                .bind(job.max_attempts)
                .bind(now)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn job(&self, id: i64) -> $crate::Result<Option<$crate::Job>> {
                Ok(sqlx::query_as(concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn claim_job(
                &self,
                owner: &str,
                lease_ms: i64,
            ) -> $crate::Result<Option<$crate::Job>> {
                let now = $crate::now().millis();
                Ok(sqlx::query_as(concat!(
                    "UPDATE jobs SET state = 'running', lease_owner = $1,
                        lease_expires_at = $2 + $3, attempts = attempts + 1,
                        started_at = COALESCE(started_at, $2)
                     WHERE id = (
                        SELECT id FROM jobs
                        WHERE (state = 'queued' AND run_at <= $2)
                           OR (state = 'running' AND lease_expires_at < $2)
                        ORDER BY id LIMIT 1 ",
                    $skip_locked,
                    ")
                     RETURNING ",
                    job_columns!()
                ))
                .bind(owner)
                .bind(now)
                .bind(lease_ms)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn heartbeat(
                &self,
                lease: &$crate::Lease,
                lease_ms: i64,
            ) -> $crate::Result<$crate::LeaseStatus> {
                let cancel_requested: Option<bool> = sqlx::query_scalar(
                    "UPDATE jobs SET lease_expires_at = $3
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'
                     RETURNING cancel_requested",
                )
                .bind(lease.job_id)
                .bind(&lease.owner)
                .bind($crate::now().millis() + lease_ms)
                .fetch_optional(&self.pool)
                .await?;
                cancel_requested
                    .map(|cancel_requested| $crate::LeaseStatus { cancel_requested })
                    .ok_or($crate::StoreError::LeaseLost { job_id: lease.job_id })
            }

            async fn checkpoint(
                &self,
                lease: &$crate::Lease,
                checkpoint: &$crate::Checkpoint,
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query(
                    "UPDATE jobs SET checkpoint = $3, progress_done = $4, progress_total = $5,
                        progress_message = $6
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                )
                .bind(lease.job_id)
                .bind(&lease.owner)
                .bind(sqlx::types::Json(&checkpoint.data))
                .bind(checkpoint.progress.done)
                .bind(checkpoint.progress.total)
                .bind(&checkpoint.progress.message)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::LeaseLost { job_id: lease.job_id });
                }
                if let Some(entry) = &checkpoint.audit {
                    insert_audit(&mut *tx, entry).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn finish_job(
                &self,
                lease: &$crate::Lease,
                outcome: &$crate::JobOutcome,
            ) -> $crate::Result<()> {
                use $crate::JobOutcome;
                let now = $crate::now().millis();
                let (state, error, run_at, finished_at) = match outcome {
                    JobOutcome::Succeeded => ("succeeded", None, None, Some(now)),
                    JobOutcome::Failed { error } => ("failed", Some(error), None, Some(now)),
                    JobOutcome::Retry { error, run_at } => {
                        ("queued", Some(error), Some(run_at.millis()), None)
                    }
                    JobOutcome::Cancelled => ("cancelled", None, None, Some(now)),
                };
                let done = sqlx::query(
                    "UPDATE jobs SET state = $3, last_error = COALESCE($4, last_error),
                        run_at = COALESCE($5, run_at), finished_at = $6, lease_expires_at = NULL
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                )
                .bind(lease.job_id)
                .bind(&lease.owner)
                .bind(state)
                .bind(error)
                .bind(run_at)
                .bind(finished_at)
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::LeaseLost { job_id: lease.job_id });
                }
                Ok(())
            }

            async fn cancel_job(&self, id: i64) -> $crate::Result<Option<ferry_domain::JobState>> {
                sqlx::query(
                    "UPDATE jobs SET cancel_requested = TRUE,
                        finished_at = CASE WHEN state = 'queued' THEN $2 ELSE finished_at END,
                        state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END
                     WHERE id = $1 AND state IN ('queued', 'running')",
                )
                .bind(id)
                .bind($crate::now().millis())
                .execute(&self.pool)
                .await?;
                Ok($crate::Store::job(self, id).await?.map(|job| job.state))
            }
        }

        impl $store {
            async fn applied_migrations(&self) -> $crate::Result<usize> {
                match sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations")
                    .fetch_one(&self.pool)
                    .await
                {
                    Ok(n) => Ok(usize::try_from(n).unwrap_or(0)),
                    Err(sqlx::Error::Database(_)) => Ok(0),
                    Err(e) => Err(e.into()),
                }
            }
        }

        async fn insert_user<'e, E>(
            executor: E,
            marketplace_id: i64,
            u: &ferry_domain::NewUser,
            password_hash: Option<&str>,
        ) -> $crate::Result<i64>
        where
            E: sqlx::Executor<'e, Database = <$store as $crate::shared::HasDatabase>::Database>,
        {
            Ok(sqlx::query_scalar(
                "INSERT INTO users (marketplace_id, external_id, email, first_name, last_name,
                    locale, phone, allow_login, status, password_hash, custom_attributes,
                    origin_kind, origin_ref, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
                 RETURNING id",
            )
            .bind(marketplace_id)
            .bind(&u.external_id)
            .bind(u.email.as_str())
            .bind(&u.first_name)
            .bind(&u.last_name)
            .bind(&u.locale)
            .bind(&u.phone)
            .bind(u.allow_login)
            .bind(u.status.as_str())
            .bind(password_hash)
            .bind(sqlx::types::Json(&u.custom_attributes))
            .bind(u.origin.kind())
            .bind(u.origin.reference())
            .bind($crate::now().millis())
            .fetch_one(executor)
            .await?)
        }

        async fn insert_audit<'e, E>(executor: E, entry: &$crate::NewAuditEntry) -> $crate::Result<()>
        where
            E: sqlx::Executor<'e, Database = <$store as $crate::shared::HasDatabase>::Database>,
        {
            sqlx::query(
                "INSERT INTO audit_log (marketplace_id, actor, action, entity_type, entity_id,
                    changes, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(entry.marketplace_id)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.entity_type)
            .bind(entry.entity_id)
            .bind(sqlx::types::Json(&entry.changes))
            .bind($crate::now().millis())
            .execute(executor)
            .await?;
            Ok(())
        }

        /// Turns "no row matched" into the error naming what was missing.
        fn found(rows: u64, what: &'static str) -> $crate::Result<()> {
            if rows == 0 {
                Err($crate::StoreError::NotFound { what })
            } else {
                Ok(())
            }
        }
    };
}

/// The columns of [`crate::Job`], in one place for every statement that returns a job.
macro_rules! job_columns {
    () => {
        "id, marketplace_id, kind, payload, state, progress_done, progress_total,
         progress_message, attempts, max_attempts, lease_owner, lease_expires_at, checkpoint,
         cancel_requested, last_error, created_at, started_at, finished_at"
    };
}

pub(crate) use {impl_store, job_columns};

/// Names the sqlx database type a store runs on, so shared helpers can be generic over it.
pub(crate) trait HasDatabase {
    type Database: sqlx::Database;
}
