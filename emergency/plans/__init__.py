"""Emergency plans (应急预案, GB/T 29639-2020) as structured records, and their activation for an incident."""
