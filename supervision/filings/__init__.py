"""备案登记: filings on the case engine (重大危险源备案, 生产安全事故应急预案备案) and the hazard sources' filing status."""
