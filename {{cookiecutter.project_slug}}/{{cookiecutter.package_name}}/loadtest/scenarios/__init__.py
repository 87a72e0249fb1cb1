"""Whole experiments: steady (against a running server), batching (off vs on), swap (versions
under load). Each writes reports/<timestamp>-<scenario>/."""
