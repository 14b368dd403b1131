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

            async fn marketplace_settings(&self, id: i64) -> $crate::Result<$crate::MarketplaceSettings> {
                let settings: Option<(sqlx::types::Json<$crate::MarketplaceSettings>,)> =
                    sqlx::query_as("SELECT settings FROM marketplaces WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                settings.map(|(s,)| s.0).ok_or($crate::StoreError::NotFound {
                    what: "marketplace",
                })
            }

            async fn set_marketplace_settings(
                &self,
                id: i64,
                settings: &$crate::MarketplaceSettings,
            ) -> $crate::Result<()> {
                let done = sqlx::query("UPDATE marketplaces SET settings = $2 WHERE id = $1")
                    .bind(id)
                    .bind(sqlx::types::Json(settings))
                    .execute(&self.pool)
                    .await?;
                found(done.rows_affected(), "marketplace")
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

            async fn insert_companies(
                &self,
                marketplace_id: i64,
                companies: &[ferry_domain::NewCompany],
            ) -> $crate::Result<u64> {
                // 25 parameters a row: 500 rows stay well under both backends' limits.
                const ROWS_PER_STATEMENT: usize = 500;
                let now = $crate::now().millis();
                let mut tx = self.pool.begin_with($begin_write).await?;
                let mut inserted = 0;
                for chunk in companies.chunks(ROWS_PER_STATEMENT) {
                    let mut sql = sqlx::QueryBuilder::new(
                        "INSERT INTO companies (marketplace_id, external_id, name, street1, street2,
                            city, state, zip, country, billing_street1, billing_street2,
                            billing_city, billing_state, billing_zip, billing_country, phone,
                            email, website, allow_login, status, custom_attributes, origin_kind,
                            origin_ref, created_at, updated_at) ",
                    );
                    sql.push_values(chunk, |mut row, c| {
                        let billing = c.billing_address.clone().unwrap_or_default();
                        row.push_bind(marketplace_id)
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
                            .push_bind(now);
                    });
                    inserted += sql.build().execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                Ok(inserted)
            }

            async fn company(
                &self,
                marketplace_id: i64,
                id: i64,
            ) -> $crate::Result<Option<$crate::Company>> {
                Ok(sqlx::query_as(
                    concat!("SELECT ", company_columns!(), " FROM companies
                     WHERE marketplace_id = $1 AND id = $2"),
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
                    concat!("SELECT ", company_columns!(), " FROM companies
                     WHERE marketplace_id = $1 AND external_id = $2"),
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
                    concat!("SELECT ", user_columns!(), " FROM users
                     WHERE marketplace_id = $1 AND email = $2"),
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
                        import_hash = NULL,
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

            async fn instances(
                &self,
                marketplace_id: i64,
            ) -> $crate::Result<Vec<$crate::InstanceSummary>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", instance_columns!(), " FROM partner_center_instances
                     WHERE marketplace_id = $1 ORDER BY name"
                ))
                .bind(marketplace_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn instance(
                &self,
                marketplace_id: i64,
                id: i64,
            ) -> $crate::Result<Option<$crate::InstanceRecord>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", instance_columns!(), ", secret_encrypted, refresh_token_encrypted
                     FROM partner_center_instances WHERE marketplace_id = $1 AND id = $2"
                ))
                .bind(marketplace_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn update_instance(
                &self,
                marketplace_id: i64,
                id: i64,
                i: &$crate::NewInstance,
            ) -> $crate::Result<()> {
                let done = sqlx::query(
                    "UPDATE partner_center_instances SET name = $3, model = $4,
                        partner_tenant_id = $5, application_id = $6,
                        secret_encrypted = COALESCE($7, secret_encrypted),
                        refresh_token_encrypted = COALESCE($8, refresh_token_encrypted),
                        mpn_id = $9, api_base_url = $10, login_base_url = $11,
                        auth_state = 'unchecked', auth_reason = NULL
                     WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(id)
                .bind(&i.name)
                .bind(&i.model)
                .bind(&i.partner_tenant_id)
                .bind(&i.application_id)
                .bind(&i.secret_encrypted)
                .bind(&i.refresh_token_encrypted)
                .bind(&i.mpn_id)
                .bind(&i.api_base_url)
                .bind(&i.login_base_url)
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "Partner Center instance")
            }

            async fn delete_instance(&self, marketplace_id: i64, id: i64) -> $crate::Result<()> {
                let linked: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM tenant_links WHERE instance_id = $1",
                )
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
                if linked > 0 {
                    return Err($crate::StoreError::Conflict { key: "Partner Center instance with linked companies" });
                }
                let done = sqlx::query(
                    "DELETE FROM partner_center_instances WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "Partner Center instance")
            }

            async fn store_refresh_token(&self, id: i64, sealed: &[u8]) -> $crate::Result<()> {
                let done = sqlx::query(
                    "UPDATE partner_center_instances SET refresh_token_encrypted = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(sealed)
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "Partner Center instance")
            }

            async fn set_instance_auth(
                &self,
                id: i64,
                state: &str,
                reason: Option<&str>,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE partner_center_instances SET auth_state = $2, auth_reason = $3,
                        checked_at = $4
                     WHERE id = $1",
                )
                .bind(id)
                .bind(state)
                .bind(reason)
                .bind($crate::now().millis())
                .execute(&self.pool)
                .await?;
                Ok(())
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

            async fn credentials_by_email(
                &self,
                email: &ferry_domain::Email,
            ) -> $crate::Result<Vec<$crate::Credentials>> {
                let rows: Vec<(Option<i64>, i64, String)> = sqlx::query_as(
                    "SELECT NULL, id, password_hash FROM platform_admins WHERE email = $1
                     UNION ALL
                     SELECT marketplace_id, id, password_hash FROM users
                     WHERE email = $1 AND password_hash IS NOT NULL AND allow_login
                       AND status = 'active'",
                )
                .bind(email.as_str())
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(marketplace_id, id, password_hash)| $crate::Credentials {
                        subject: match marketplace_id {
                            None => $crate::Subject::PlatformAdmin { id },
                            Some(marketplace_id) => $crate::Subject::User { id, marketplace_id },
                        },
                        password_hash,
                    })
                    .collect())
            }

            async fn account(
                &self,
                subject: $crate::Subject,
            ) -> $crate::Result<Option<$crate::Account>> {
                match subject {
                    $crate::Subject::PlatformAdmin { id } => {
                        let email: Option<String> =
                            sqlx::query_scalar("SELECT email FROM platform_admins WHERE id = $1")
                                .bind(id)
                                .fetch_optional(&self.pool)
                                .await?;
                        Ok(email.map(|email| $crate::Account {
                            subject,
                            display_name: email.clone(),
                            email,
                            roles: vec![ferry_domain::Role::PlatformAdmin],
                        }))
                    }
                    $crate::Subject::User { id, marketplace_id } => {
                        let Some(user) = $crate::Store::user(self, marketplace_id, id).await? else {
                            return Ok(None);
                        };
                        if user.status != ferry_domain::UserStatus::Active || !user.allow_login {
                            return Ok(None);
                        }
                        let roles: Vec<String> =
                            sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
                                .bind(id)
                                .fetch_all(&self.pool)
                                .await?;
                        let roles = roles
                            .into_iter()
                            .map(|r| r.parse().map_err(|e: ferry_domain::ParseError| {
                                $crate::StoreError::Corrupt { what: "role", value: e.value }
                            }))
                            .collect::<$crate::Result<Vec<_>>>()?;
                        Ok(Some($crate::Account {
                            subject,
                            display_name: user.display_name(),
                            email: user.email.to_string(),
                            roles,
                        }))
                    }
                }
            }

            async fn create_session(
                &self,
                id_hash: &[u8],
                subject: $crate::Subject,
                expires_at: ferry_domain::Timestamp,
            ) -> $crate::Result<()> {
                let (kind, id) = subject_parts(subject);
                sqlx::query(
                    "INSERT INTO sessions (id_hash, subject_kind, subject_id, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id_hash)
                .bind(kind)
                .bind(id)
                .bind($crate::now().millis())
                .bind(expires_at.millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session_subject(
                &self,
                id_hash: &[u8],
                now: ferry_domain::Timestamp,
            ) -> $crate::Result<Option<$crate::Subject>> {
                let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT s.subject_kind, s.subject_id, u.marketplace_id
                     FROM sessions s
                     LEFT JOIN users u ON s.subject_kind = 'user' AND u.id = s.subject_id
                     WHERE s.id_hash = $1 AND s.expires_at > $2",
                )
                .bind(id_hash)
                .bind(now.millis())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.and_then(|(kind, id, marketplace_id)| match (kind.as_str(), marketplace_id) {
                    ("platform_admin", _) => Some($crate::Subject::PlatformAdmin { id }),
                    ("user", Some(marketplace_id)) => Some($crate::Subject::User { id, marketplace_id }),
                    _ => None,
                }))
            }

            async fn delete_session(&self, id_hash: &[u8]) -> $crate::Result<()> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn sign_in_failures(
                &self,
                account: &str,
            ) -> $crate::Result<Option<ferry_domain::SignInFailures>> {
                let row: Option<(i32, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT failures, first_failure, locked_until FROM sign_in_failures
                     WHERE account = $1",
                )
                .bind(account)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(failures, first, locked)| ferry_domain::SignInFailures {
                    failures,
                    first_failure: ferry_domain::Timestamp(first),
                    locked_until: locked.map(ferry_domain::Timestamp),
                }))
            }

            async fn set_sign_in_failures(
                &self,
                account: &str,
                state: Option<&ferry_domain::SignInFailures>,
            ) -> $crate::Result<()> {
                match state {
                    None => {
                        sqlx::query("DELETE FROM sign_in_failures WHERE account = $1")
                            .bind(account)
                            .execute(&self.pool)
                            .await?;
                    }
                    Some(state) => {
                        sqlx::query(
                            "INSERT INTO sign_in_failures (account, failures, first_failure, locked_until)
                             VALUES ($1, $2, $3, $4)
                             ON CONFLICT (account) DO UPDATE SET failures = excluded.failures,
                                first_failure = excluded.first_failure,
                                locked_until = excluded.locked_until",
                        )
                        .bind(account)
                        .bind(state.failures)
                        .bind(state.first_failure.millis())
                        .bind(state.locked_until.map(|t| t.millis()))
                        .execute(&self.pool)
                        .await?;
                    }
                }
                Ok(())
            }

            async fn create_user_link(
                &self,
                token_hash: &[u8],
                user_id: i64,
                purpose: $crate::LinkPurpose,
                expires_at: ferry_domain::Timestamp,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO user_links (token_hash, user_id, purpose, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(purpose.as_str())
                .bind($crate::now().millis())
                .bind(expires_at.millis())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn link_user(
                &self,
                token_hash: &[u8],
                purpose: $crate::LinkPurpose,
                now: ferry_domain::Timestamp,
            ) -> $crate::Result<Option<$crate::User>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", user_columns!(), " FROM users WHERE id = (
                        SELECT user_id FROM user_links
                        WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL
                          AND expires_at > $3)"
                ))
                .bind(token_hash)
                .bind(purpose.as_str())
                .bind(now.millis())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn redeem_link(
                &self,
                token_hash: &[u8],
                purpose: $crate::LinkPurpose,
                password_hash: &str,
                now: ferry_domain::Timestamp,
            ) -> $crate::Result<Option<$crate::User>> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let user_id: Option<i64> = sqlx::query_scalar(
                    "UPDATE user_links SET used_at = $3
                     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
                     RETURNING user_id",
                )
                .bind(token_hash)
                .bind(purpose.as_str())
                .bind(now.millis())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(user_id) = user_id else {
                    return Ok(None);
                };
                sqlx::query(
                    "UPDATE users SET password_hash = $2, status = 'active', updated_at = $3
                     WHERE id = $1 AND status <> 'suspended'",
                )
                .bind(user_id)
                .bind(password_hash)
                .bind(now.millis())
                .execute(&mut *tx)
                .await?;
                // A company becomes active when its first user activates.
                sqlx::query(
                    "UPDATE companies SET status = 'active', updated_at = $2
                     WHERE status = 'pending'
                       AND id IN (SELECT company_id FROM memberships WHERE user_id = $1)",
                )
                .bind(user_id)
                .bind(now.millis())
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM sessions WHERE subject_kind = 'user' AND subject_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                let user = sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(user))
            }

            async fn api_token(&self, token_hash: &[u8]) -> $crate::Result<Option<$crate::ApiToken>> {
                Ok(sqlx::query_as(
                    "UPDATE api_tokens SET last_used_at = $2
                     WHERE token_hash = $1 AND revoked_at IS NULL
                     RETURNING id, marketplace_id, name, role, created_at, last_used_at, revoked_at",
                )
                .bind(token_hash)
                .bind($crate::now().millis())
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn api_tokens(&self, marketplace_id: i64) -> $crate::Result<Vec<$crate::ApiToken>> {
                Ok(sqlx::query_as(
                    "SELECT id, marketplace_id, name, role, created_at, last_used_at, revoked_at
                     FROM api_tokens WHERE marketplace_id = $1 ORDER BY id DESC",
                )
                .bind(marketplace_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn revoke_api_token(&self, marketplace_id: i64, id: i64) -> $crate::Result<()> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3)
                     WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(id)
                .bind($crate::now().millis())
                .execute(&self.pool)
                .await?;
                found(done.rows_affected(), "API token")
            }

            async fn companies(
                &self,
                marketplace_id: i64,
                query: &$crate::CompanyQuery,
            ) -> $crate::Result<Vec<$crate::Company>> {
                let Some(term) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty())
                else {
                    return company_page(&self.pool, marketplace_id, query, None).await;
                };
                // A search is three index lookups — the name starts with the term, or the
                // whole external id or e-mail address is the term — merged in name order. One
                // query with OR would read every row of a large marketplace.
                let mut rows = Vec::new();
                for branch in [
                    CompanySearch::NamePrefix(term.to_lowercase()),
                    CompanySearch::ExternalId(term.to_owned()),
                    CompanySearch::Email(term.to_lowercase()),
                ] {
                    rows.extend(company_page(&self.pool, marketplace_id, query, Some(branch)).await?);
                }
                rows.sort_by_key(|c: &$crate::Company| (c.key().name, c.id));
                rows.dedup_by_key(|c| c.id);
                rows.truncate(usize::try_from(query.limit).unwrap_or(0));
                Ok(rows)
            }

            async fn update_company(
                &self,
                marketplace_id: i64,
                id: i64,
                c: &ferry_domain::NewCompany,
                audit: &$crate::NewAuditEntry,
            ) -> $crate::Result<()> {
                let billing = c.billing_address.clone().unwrap_or_default();
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query(
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
                .bind(id)
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
                .bind($crate::now().millis())
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
            ) -> $crate::Result<Vec<$crate::ContactRow>> {
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

            async fn memberships_of_company(
                &self,
                marketplace_id: i64,
                company_id: i64,
            ) -> $crate::Result<Vec<$crate::Membership>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", membership_columns!(), " WHERE c.marketplace_id = $1 AND c.id = $2
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
            ) -> $crate::Result<Vec<$crate::Membership>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", membership_columns!(), " WHERE u.marketplace_id = $1 AND u.id = $2
                     ORDER BY lower(c.name)"
                ))
                .bind(marketplace_id)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn subscriptions_of_company(
                &self,
                marketplace_id: i64,
                company_id: i64,
            ) -> $crate::Result<Vec<$crate::SubscriptionRow>> {
                Ok(sqlx::query_as(
                    "SELECT s.id, s.external_id, p.name AS product_name, e.name AS edition_name,
                        s.units, s.status, s.start_date, s.billing_start_date, s.end_date,
                        s.billing_cycle, s.term, s.vendor_subscription_id, s.origin_kind,
                        s.provisioning_error
                     FROM subscriptions s
                     JOIN editions e ON e.id = s.edition_id
                     JOIN products p ON p.id = e.product_id
                     WHERE s.marketplace_id = $1 AND s.company_id = $2 ORDER BY s.id",
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
            ) -> $crate::Result<Vec<$crate::TenantLinkRow>> {
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

            async fn users(
                &self,
                marketplace_id: i64,
                query: &$crate::UserQuery,
            ) -> $crate::Result<Vec<$crate::User>> {
                let mut sql = sqlx::QueryBuilder::new(concat!(
                    "SELECT ", user_columns!(), " FROM users WHERE marketplace_id = "
                ));
                sql.push_bind(marketplace_id);
                if let Some(search) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    let pattern = format!("%{}%", like_escape(&search.to_lowercase()));
                    sql.push(" AND (email LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '')) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\' OR external_id = ")
                        .push_bind(search.to_owned())
                        .push(")");
                }
                if let Some(status) = query.status {
                    sql.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(after) = &query.after {
                    sql.push(" AND email > ").push_bind(after.clone());
                }
                sql.push(" ORDER BY email LIMIT ").push_bind(query.limit);
                Ok(sql.build_query_as().fetch_all(&self.pool).await?)
            }

            async fn user(&self, marketplace_id: i64, id: i64) -> $crate::Result<Option<$crate::User>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", user_columns!(), " FROM users WHERE marketplace_id = $1 AND id = $2"
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
                audit: &$crate::NewAuditEntry,
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query(
                    "UPDATE users SET external_id = $3, email = $4, first_name = $5, last_name = $6,
                        locale = $7, phone = $8, allow_login = $9, custom_attributes = $10,
                        import_hash = NULL, updated_at = $11
                     WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(id)
                .bind(&u.external_id)
                .bind(u.email.as_str())
                .bind(&u.first_name)
                .bind(&u.last_name)
                .bind(&u.locale)
                .bind(&u.phone)
                .bind(u.allow_login)
                .bind(sqlx::types::Json(&u.custom_attributes))
                .bind($crate::now().millis())
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
            ) -> $crate::Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
                let done = sqlx::query(
                    "UPDATE users SET status = $3, updated_at = $4 WHERE marketplace_id = $1 AND id = $2",
                )
                .bind(marketplace_id)
                .bind(id)
                .bind(status.as_str())
                .bind($crate::now().millis())
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

            async fn products(&self, marketplace_id: i64) -> $crate::Result<Vec<$crate::Product>> {
                let products: Vec<(i64, String, String, Option<String>, bool)> = sqlx::query_as(
                    "SELECT id, name, vendor, webhook_url, webhook_secret_encrypted IS NOT NULL
                     FROM products WHERE marketplace_id = $1 ORDER BY name",
                )
                .bind(marketplace_id)
                .fetch_all(&self.pool)
                .await?;
                let editions: Vec<$crate::Edition> = sqlx::query_as(
                    "SELECT id, product_id, code, name, pricing_plan_id, channel_sku, pricing_unit,
                        included_units, connector, active
                     FROM editions WHERE marketplace_id = $1 ORDER BY name",
                )
                .bind(marketplace_id)
                .fetch_all(&self.pool)
                .await?;
                let offers: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT edition_id, offer_id FROM edition_offers
                     WHERE marketplace_id = $1 ORDER BY offer_id",
                )
                .bind(marketplace_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(products
                    .into_iter()
                    .map(|(id, name, vendor, webhook_url, webhook_signed)| $crate::Product {
                        id,
                        name,
                        vendor,
                        webhook_url,
                        webhook_signed,
                        editions: editions
                            .iter()
                            .filter(|e| e.product_id == id)
                            .map(|e| {
                                let ids: Vec<&str> = offers
                                    .iter()
                                    .filter(|(edition, _)| *edition == e.id)
                                    .map(|(_, offer)| offer.as_str())
                                    .collect();
                                $crate::Edition {
                                    offer_ids: (!ids.is_empty()).then(|| ids.join(", ")),
                                    ..e.clone()
                                }
                            })
                            .collect(),
                    })
                    .collect())
            }

            async fn queue_email(&self, email: &$crate::NewEmail) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO outbox (marketplace_id, to_address, subject, body, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(email.marketplace_id)
                .bind(&email.to)
                .bind(&email.subject)
                .bind(&email.body)
                .bind($crate::now().millis())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn outbox(
                &self,
                marketplace_id: Option<i64>,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::OutboxEmail>> {
                Ok(sqlx::query_as(
                    "SELECT id, marketplace_id, to_address, subject, body, created_at, sent_at,
                        last_error
                     FROM outbox
                     WHERE sent_at IS NULL AND ($1 IS NULL OR marketplace_id = $1)
                     ORDER BY id DESC LIMIT $2",
                )
                .bind(marketplace_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn email(&self, id: i64) -> $crate::Result<Option<$crate::OutboxEmail>> {
                Ok(sqlx::query_as(
                    "SELECT id, marketplace_id, to_address, subject, body, created_at, sent_at,
                        last_error
                     FROM outbox WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn mark_email_sent(&self, id: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE outbox SET sent_at = $2, last_error = NULL WHERE id = $1")
                    .bind(id)
                    .bind($crate::now().millis())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn mark_email_failed(&self, id: i64, error: &str) -> $crate::Result<()> {
                sqlx::query("UPDATE outbox SET last_error = $2 WHERE id = $1")
                    .bind(id)
                    .bind(error)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn jobs(
                &self,
                marketplace_id: Option<i64>,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Job>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", job_columns!(), " FROM jobs
                     WHERE $1 IS NULL OR marketplace_id = $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(marketplace_id)
                .bind(limit)
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
                write_checkpoint(&mut tx, lease, checkpoint).await?;
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

        /// One page of companies in name order, optionally narrowed by one search branch.
        async fn company_page(
            pool: &sqlx::Pool<<$store as $crate::shared::HasDatabase>::Database>,
            marketplace_id: i64,
            query: &$crate::CompanyQuery,
            search: Option<CompanySearch>,
        ) -> $crate::Result<Vec<$crate::Company>> {
            let mut sql = sqlx::QueryBuilder::new(concat!(
                "SELECT ", company_columns!(), " FROM companies WHERE marketplace_id = "
            ));
            sql.push_bind(marketplace_id);
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
                        .push_bind(prefix_end(&term))
                        .push(" AND lower(name) LIKE ")
                        .push_bind(format!("{}%", like_escape(&term)))
                        .push(" ESCAPE '\\'");
                }
                Some(CompanySearch::ExternalId(id)) => {
                    sql.push(" AND external_id = ").push_bind(id);
                }
                Some(CompanySearch::Email(email)) => {
                    sql.push(" AND lower(email) = ").push_bind(email);
                }
            }
            if let Some(status) = query.status {
                sql.push(" AND status = ").push_bind(status.as_str());
            }
            if let Some(origin) = &query.origin_kind {
                sql.push(" AND origin_kind = ").push_bind(origin.clone());
            }
            if let Some(after) = &query.after {
                // Spelled out rather than as a row value, so SQLite seeks the index too.
                sql.push(" AND lower(name) >= ")
                    .push_bind(after.name.clone())
                    .push(" AND (lower(name) > ")
                    .push_bind(after.name.clone())
                    .push(" OR id > ")
                    .push_bind(after.id)
                    .push(")");
            }
            // An exact match finds a row or two, sorted by the caller; asking the database
            // to sort them would tempt SQLite to walk the name index instead.
            if exact {
                sql.push(" LIMIT ");
            } else {
                sql.push(" ORDER BY lower(name), id LIMIT ");
            }
            sql.push_bind(query.limit);
            Ok(sql.build_query_as().fetch_all(pool).await?)
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

        /// Records a job's checkpoint (and its audit line) inside a transaction, only while the
        /// lease is held: the caller's step and the checkpoint commit together or not at all.
        async fn write_checkpoint(
            tx: &mut sqlx::Transaction<'_, <$store as $crate::shared::HasDatabase>::Database>,
            lease: &$crate::Lease,
            checkpoint: &$crate::Checkpoint,
        ) -> $crate::Result<()> {
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
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err($crate::StoreError::LeaseLost { job_id: lease.job_id });
            }
            if let Some(entry) = &checkpoint.audit {
                insert_audit(&mut **tx, entry).await?;
            }
            Ok(())
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

        fn subject_parts(subject: $crate::Subject) -> (&'static str, i64) {
            match subject {
                $crate::Subject::PlatformAdmin { id } => ("platform_admin", id),
                $crate::Subject::User { id, .. } => ("user", id),
            }
        }

        /// Escapes `%`, `_` and `\` so a search term matches literally in `LIKE … ESCAPE '\'`.
        fn like_escape(term: &str) -> String {
            term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
        }

        /// The smallest string greater than every string that starts with `prefix`.
        fn prefix_end(prefix: &str) -> String {
            let mut chars: Vec<char> = prefix.chars().collect();
            while let Some(last) = chars.pop() {
                if let Some(next) = char::from_u32(u32::from(last) + 1) {
                    chars.push(next);
                    return chars.into_iter().collect();
                }
            }
            String::from(char::MAX)
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

/// One way a company search matches.
pub(crate) enum CompanySearch {
    NamePrefix(String),
    ExternalId(String),
    Email(String),
}

/// The columns of [`crate::Company`].
macro_rules! company_columns {
    () => {
        "id, marketplace_id, external_id, name, street1, street2, city, state, zip, country,
         billing_street1, billing_street2, billing_city, billing_state, billing_zip,
         billing_country, phone, email, website, allow_login, status, custom_attributes,
         origin_kind, origin_ref, created_at, updated_at"
    };
}

/// The columns of [`crate::User`].
macro_rules! user_columns {
    () => {
        "id, marketplace_id, external_id, email, first_name, last_name, locale, phone,
         allow_login, status, (password_hash IS NOT NULL) AS has_password, custom_attributes,
         origin_kind, origin_ref, created_at, updated_at"
    };
}

/// The columns of [`crate::Membership`] and the join they come from.
macro_rules! membership_columns {
    () => {
        "u.id AS user_id, u.email, u.first_name, u.last_name, u.status AS user_status,
         c.id AS company_id, c.name AS company_name, m.company_admin, m.billing_admin,
         m.sales_support, m.restricted_sales_support
         FROM memberships m
         JOIN users u ON u.id = m.user_id
         JOIN companies c ON c.id = m.company_id"
    };
}

/// The columns of [`crate::InstanceSummary`].
macro_rules! instance_columns {
    () => {
        "id, marketplace_id, name, model, partner_tenant_id, application_id, mpn_id,
         api_base_url, login_base_url,
         (refresh_token_encrypted IS NOT NULL) AS has_refresh_token,
         auth_state, auth_reason, checked_at"
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

pub(crate) use {
    company_columns, impl_store, instance_columns, job_columns, membership_columns, user_columns,
};

/// Names the sqlx database type a store runs on, so shared helpers can be generic over it.
pub(crate) trait HasDatabase {
    type Database: sqlx::Database;
}
