DROP FUNCTION claim_webhook_nonce(text, text);
DROP TABLE webhook_nonces;
