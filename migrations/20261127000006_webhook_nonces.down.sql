DROP FUNCTION claim_webhook_nonce(text, text, interval);
DROP TABLE webhook_nonces;
