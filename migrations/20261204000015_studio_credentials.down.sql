DROP FUNCTION find_user_by_email(text);
DROP FUNCTION resolve_credential(text, bytea);
DROP FUNCTION role_rank(text);
DROP INDEX api_keys_hash_platform;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_user, DROP COLUMN role, DROP COLUMN user_id;
DROP TABLE sessions;
DROP INDEX users_invite_token;
ALTER TABLE users
    DROP CONSTRAINT users_invite_whole,
    DROP COLUMN updated_at,
    DROP COLUMN invite_expires_at,
    DROP COLUMN invite_token_hash,
    DROP COLUMN password_hash;
DROP INDEX users_one_owner;
DROP INDEX users_email_platform;
