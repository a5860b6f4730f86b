"""The event ledger: names (`naming`), the single writer that assigns `seq` (`ledger`, holding
writes while the store refuses them: `holding`), and the fan-out bus with replay (`bus`)."""
