"""Every write of the ticket shop. The web shop, the front desk and the API call these."""
