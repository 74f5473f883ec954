/* stream: not written yet */
