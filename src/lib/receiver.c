/* receiver: not written yet */
