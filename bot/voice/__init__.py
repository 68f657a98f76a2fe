"""Offline speech to text for voice notes: decode any audio to 16 kHz mono PCM
(``decode``), transcribe it with a local engine (``engines``), and measure how well
(``wer``). Nothing here touches Telegram or the database, and nothing logs what was said.
"""
