-- migrate:up
-- Add customer tags table for categorizing customers

CREATE TABLE customer_tags (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id UUID NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    tag VARCHAR(100) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (customer_id, tag)
);

CREATE INDEX idx_customer_tags_tag ON customer_tags(tag);

-- migrate:down
-- Remove customer tags table

DROP TABLE IF EXISTS customer_tags;
