"""A typed message task and a worker on a SQLite file (the README's example)."""

import anyio
import msgspec

from kmsg import open_queue
from kmsg.worker import Retry, Worker, current_job


class SendSms(msgspec.Struct, frozen=True):
    to: str
    text: str


async def main() -> None:
    async with open_queue("sqlite:///example.db") as queue:
        worker = Worker(queue, queues=("sms",), concurrency=10, install_signal_handlers=False)

        @worker.task  # binds the SendSms type to this handler
        async def send_sms(msg: SendSms) -> str:
            if current_job().attempt == 1 and msg.to.endswith("3"):
                raise Retry(after=0.1)  # a flaky gateway: try again shortly
            return f"sent to {msg.to}"  # kept as the job's result

        for n in range(5):
            await queue.enqueue(SendSms(to=f"0101234567{n}", text="hi"), queue="sms")
        await worker.run_until_idle()  # or worker.run(): until SIGINT/SIGTERM


anyio.run(main)
