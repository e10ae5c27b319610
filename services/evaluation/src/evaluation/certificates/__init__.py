"""Certificates: issue (one or a batch), revoke, flag, and officials' reads."""
