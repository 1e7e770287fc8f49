"""Which chain a CoinPayments coin code travels on, and the payment URI a wallet app opens.

CoinPayments names a token by asset and network ("USDT.TRC20", "USDT.ERC20"); the same USDT
sent on the wrong network never arrives, so pages name the network loudly. URIs follow the
schemes wallets implement: BIP 21 for Bitcoin-like coins, EIP 681 for Ether and ERC-20 tokens.
Tron has no URI scheme wallets agree on, so TRC-20 payments get none (address and amount only).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

CHAINS = {
    "TRC20": gettext_lazy("Tron"),
    "ERC20": gettext_lazy("Ethereum"),
    "BEP20": gettext_lazy("BNB Smart Chain"),
    "POLYGON": gettext_lazy("Polygon"),
    "SOL": gettext_lazy("Solana"),
}
NATIVE = {
    "BTC": gettext_lazy("Bitcoin"),
    "LTC": gettext_lazy("Litecoin"),
    "LTCT": gettext_lazy("Litecoin testnet (test coins, no value)"),
    "ETH": gettext_lazy("Ethereum"),
    "TRX": gettext_lazy("Tron"),
    "BCH": gettext_lazy("Bitcoin Cash"),
    "DOGE": gettext_lazy("Dogecoin"),
}
BIP21_SCHEMES = {"BTC": "bitcoin", "LTC": "litecoin", "LTCT": "litecoin", "BCH": "bitcoincash", "DOGE": "dogecoin"}
# Mainnet ERC-20 contracts and their decimals (EIP 681 amounts are in the token's base units).
ERC20_TOKENS = {
    "USDT": ("0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
    "USDC": ("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6),
}


@dataclass(frozen=True)
class Network:
    coin: str  # the CoinPayments code, "USDT.TRC20"
    asset: str  # "USDT"
    code: str  # "TRC20", or the coin itself for a chain's own coin ("BTC")
    chain: str  # "Tron"

    @property
    def is_token(self) -> bool:
        return self.code != self.asset

    @property
    def label(self) -> str:
        if self.is_token:
            return _("%(asset)s on %(chain)s (%(network)s)") % {
                "asset": self.asset,
                "chain": self.chain,
                "network": self.code,
            }
        return _("%(asset)s (%(chain)s network)") % {"asset": self.asset, "chain": self.chain}


def network_of(coin: str) -> Network:
    asset, _dot, network = coin.upper().partition(".")
    if network:
        return Network(coin=coin, asset=asset, code=network, chain=str(CHAINS.get(network, network)))
    return Network(coin=coin, asset=asset, code=asset, chain=str(NATIVE.get(asset, asset)))


def _base_units(amount: Decimal, decimals: int) -> int | None:
    units = amount.scaleb(decimals)
    return int(units) if units == units.to_integral_value() else None


def payment_uri(*, coin: str, address: str, amount: str) -> str | None:
    """The URI that opens a wallet app with the address and the exact amount filled in, or None
    when the coin has no scheme wallets agree on (or the amount is not a plain decimal)."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return None
    if not address or not value.is_finite() or value <= 0:
        return None
    net = network_of(coin)
    plain = format(value.normalize(), "f")
    if not net.is_token and net.asset in BIP21_SCHEMES:
        return f"{BIP21_SCHEMES[net.asset]}:{address}?amount={plain}"
    if not net.is_token and net.asset == "ETH":
        wei = _base_units(value, 18)
        return f"ethereum:{address}?value={wei}" if wei is not None else None
    if net.code == "ERC20" and net.asset in ERC20_TOKENS:
        contract, decimals = ERC20_TOKENS[net.asset]
        units = _base_units(value, decimals)
        return f"ethereum:{contract}@1/transfer?address={address}&uint256={units}" if units is not None else None
    return None
