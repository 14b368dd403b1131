-- Provisioning connectors (PRODUCT.md §9): where a product's webhook events go, the secret that
-- signs them (sealed by the caller), and what the vendor answered for a subscription.
ALTER TABLE products ADD COLUMN webhook_url TEXT;
ALTER TABLE products ADD COLUMN webhook_secret_encrypted BLOB;
ALTER TABLE subscriptions ADD COLUMN provisioning_error TEXT;
