"""A real local EVM (py-evm through web3's EthereumTesterProvider) behind a tiny JSON-RPC HTTP
server on 127.0.0.1, so the payments client is exercised over its real HTTP path.

The server answers the four methods our client uses, in wire format (hex quantities).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from web3 import EthereumTesterProvider, Web3
from web3.exceptions import TransactionNotFound

ARTIFACT = Path(__file__).parent / "fixtures" / "TestToken.json"


def _hex(value) -> str:
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


class LocalChain:
    def __init__(self, *, decimals: int = 6) -> None:
        self.provider = EthereumTesterProvider()
        self.w3 = Web3(self.provider)
        self.accounts = self.w3.eth.accounts
        artifact = json.loads(ARTIFACT.read_text())
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx = factory.constructor(decimals, 10**15).transact({"from": self.accounts[0]})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        self.token = self.w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])
        self.server: ThreadingHTTPServer | None = None

    # --- chain actions -----------------------------------------------------------------------

    def fund(self, to: str, amount: int) -> None:
        self.token.functions.transfer(Web3.to_checksum_address(to), amount).transact({"from": self.accounts[0]})

    def send_eth(self, to: str, wei: int) -> None:
        self.w3.eth.send_transaction({"from": self.accounts[0], "to": Web3.to_checksum_address(to), "value": wei})

    def transfer(self, sender: str, to: str, amount: int) -> str:
        tx = self.token.functions.transfer(Web3.to_checksum_address(to), amount).transact(
            {"from": Web3.to_checksum_address(sender)}
        )
        return _hex(tx)

    def mine(self, blocks: int) -> None:
        self.provider.ethereum_tester.mine_blocks(blocks)

    # --- JSON-RPC ---------------------------------------------------------------------------

    def answer(self, method: str, params: list) -> object:
        if method == "eth_blockNumber":
            return hex(self.w3.eth.block_number)
        if method == "eth_getTransactionReceipt":
            try:
                r = self.w3.eth.get_transaction_receipt(params[0])
            except TransactionNotFound:
                return None
            return {
                "transactionHash": _hex(r["transactionHash"]),
                "status": hex(r["status"]),
                "blockNumber": hex(r["blockNumber"]),
                "blockHash": _hex(r["blockHash"]),
                "logs": [
                    {"address": log["address"], "topics": [_hex(t) for t in log["topics"]], "data": _hex(log["data"])}
                    for log in r["logs"]
                ],
            }
        if method == "eth_getBlockByNumber":
            number = int(params[0], 16)
            if number > self.w3.eth.block_number:
                return None
            block = self.w3.eth.get_block(number)
            return {"number": hex(block["number"]), "hash": _hex(block["hash"])}
        if method == "eth_call":
            call = params[0]
            return _hex(self.w3.eth.call({"to": Web3.to_checksum_address(call["to"]), "data": call["data"]}))
        raise ValueError(f"unsupported method {method}")

    def serve(self, port: int = 0) -> str:
        """Serve JSON-RPC on 127.0.0.1 (a free port by default: suites may run side by side)."""
        chain = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    reply = {
                        "jsonrpc": "2.0",
                        "id": request["id"],
                        "result": chain.answer(request["method"], request["params"]),
                    }
                except ValueError as exc:
                    reply = {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": str(exc)}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}/"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
