"""Stripe: the payment provider's webhooks, verified and turned into finance events."""
